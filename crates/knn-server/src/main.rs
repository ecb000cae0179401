use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use knn_core::Metric;
use knn_server::api::ApiSettings;
use knn_server::api_keys::ApiKeys;
use knn_server::backends::{self, BackendChoice, BackendSettings};
use knn_server::bench::{self, BenchConfig};
use knn_server::collections::StoreLimits;
use knn_server::serve::ServiceSettings;
use knn_server::storage::EmptyFile;
use tracing_subscriber::EnvFilter;

/// Exact k-nearest-neighbour vector search over HTTP.
#[derive(Debug, Parser)]
#[command(name = "knn-server", version)]
struct Cli {
    /// Log line format (the level comes from RUST_LOG, default info).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Serve {
        /// Address to listen on; port 0 picks a free port (the bound address is logged).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Directory of the SQLite database, created if missing.
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
        backend: BackendChoice,
        #[command(flatten)]
        backend_settings: BackendFlags,
        /// Largest accepted request body, as decompressed; larger ones get 413.
        #[arg(long, default_value_t = 32 * 1024 * 1024)]
        max_body_bytes: usize,
        /// File of API keys, one a line (at least 16 characters; # comments), re-read on
        /// SIGHUP; every route but /health then needs `Authorization: Bearer <key>`. Also
        /// KNN_API_KEYS_FILE.
        #[arg(long)]
        api_key_file: Option<PathBuf>,
        /// Serve a non-loopback address without API keys (refused otherwise), where something
        /// else guards the port.
        #[arg(long)]
        insecure_no_auth: bool,
        /// Collections at most; creating one more gets 507.
        #[arg(long, default_value_t = 1000)]
        max_collections: usize,
        /// Vectors per collection at most; an upsert past it gets 507 and stores nothing.
        #[arg(long, default_value_t = 10_000_000)]
        max_rows_per_collection: usize,
        /// Bytes of stored vectors and ids over all collections at most (all are held in
        /// memory, and an index rebuild briefly holds a second copy of a collection); an upsert
        /// past it gets 507 and stores nothing.
        #[arg(long, default_value_t = 512 * 1024 * 1024)]
        max_stored_bytes: u64,
        /// Requests in progress at most (/health aside); more get 503 with Retry-After.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
        max_concurrent_requests: u32,
        /// Seconds a request may take, its body's arrival included (/health aside); 408 after.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
        request_timeout_secs: u64,
        /// Create a new store in an existing database file that holds nothing (zero bytes, or an
        /// SQLite database without tables). Without it such a file is refused, since it may be a
        /// store that was truncated or replaced. A file holding anything else is never touched.
        #[arg(long)]
        initialize_empty_database: bool,
    },
    /// Measure search throughput on a generated collection.
    Bench {
        #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
        backend: BackendChoice,
        #[command(flatten)]
        backend_settings: BackendFlags,
        /// Vectors in the collection.
        #[arg(long, default_value_t = 1_000_000)]
        rows: usize,
        #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u16).range(1..=4096))]
        dim: u16,
        /// Queries per search call.
        #[arg(long, default_value_t = 64)]
        batch: usize,
        #[arg(long, default_value_t = 10)]
        k: usize,
        #[arg(long, default_value = "dot", value_parser = parse_metric)]
        metric: Metric,
        /// Minimum measured time in seconds.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
    },
}

/// How accelerators are opened; shared by `serve` and `bench`.
#[derive(Debug, clap::Args)]
struct BackendFlags {
    /// Refuse a CPU Vulkan adapter (Mesa's lavapipe): fail with the adapter found instead of
    /// running on the CPU when the GPU's Vulkan driver is not visible. Also set by
    /// KNN_VULKAN_REQUIRE_HARDWARE=1.
    #[arg(long)]
    vulkan_require_hardware: bool,
}

impl BackendFlags {
    fn settings(&self) -> BackendSettings {
        BackendSettings {
            vulkan_require_hardware: self.vulkan_require_hardware,
        }
    }
}

fn parse_metric(s: &str) -> Result<Metric, String> {
    s.parse()
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Serve {
            listen,
            data_dir,
            backend,
            backend_settings,
            max_body_bytes,
            api_key_file,
            insecure_no_auth,
            max_collections,
            max_rows_per_collection,
            max_stored_bytes,
            max_concurrent_requests,
            request_timeout_secs,
            initialize_empty_database,
        } => {
            let api_key_file = api_key_file.or_else(|| {
                std::env::var_os("KNN_API_KEYS_FILE")
                    .filter(|path| !path.is_empty())
                    .map(PathBuf::from)
            });
            let keys = api_key_file
                .map(|path| ApiKeys::load(&path).map(Arc::new))
                .transpose()?;
            let settings = ServiceSettings {
                api: ApiSettings {
                    max_body_bytes,
                    keys,
                    max_concurrent_requests: max_concurrent_requests as usize,
                    request_timeout: Duration::from_secs(request_timeout_secs),
                },
                store: StoreLimits {
                    max_collections,
                    max_rows_per_collection,
                    max_stored_bytes,
                },
            };
            knn_server::serve::check_exposure(listen, &settings.api, insecure_no_auth)?;
            let empty = if initialize_empty_database {
                EmptyFile::Initialize
            } else {
                EmptyFile::Refuse
            };
            let backend = backends::select(backend, &backend_settings.settings())?;
            tokio::runtime::Runtime::new()
                .context("starting the async runtime")?
                .block_on(knn_server::serve::serve(
                    listen, &data_dir, empty, backend, settings,
                ))
        }
        Command::Bench {
            backend,
            backend_settings,
            rows,
            dim,
            batch,
            k,
            metric,
            seconds,
        } => {
            anyhow::ensure!(batch > 0, "--batch must be at least 1");
            anyhow::ensure!(
                seconds.is_finite() && seconds >= 0.0,
                "--seconds must be a non-negative number"
            );
            let backend = backends::select(backend, &backend_settings.settings())?;
            let device = backend.info();
            let config = BenchConfig {
                rows,
                dim: usize::from(dim),
                batch,
                k,
                metric,
                min_duration: Duration::from_secs_f64(seconds),
            };
            let report = bench::run(backend.as_ref(), &config)?;
            println!(
                "backend {} ({}), variant {}",
                device.backend,
                device.device,
                backends::variant()
            );
            println!("device details: {}", backends::details_line(&device));
            println!(
                "collection {rows} x {dim} f32 ({:.1} MB), metric {metric}, batch {batch}, k {k}",
                (rows * usize::from(dim) * 4) as f64 / 1e6
            );
            println!(
                "{} batches in {:.2} s: {:.1} queries/s, {:.2} GB/s effective",
                report.batches,
                report.elapsed.as_secs_f64(),
                report.queries_per_second,
                report.effective_gb_per_second
            );
            if let Some(cpu) = report.cpu_seconds.filter(|&cpu| cpu > 0.0) {
                println!(
                    "CPU time {cpu:.2} s ({:.2} cores busy on average): {:.1} queries per CPU-second",
                    cpu / report.elapsed.as_secs_f64(),
                    (report.batches * batch) as f64 / cpu
                );
            }
            Ok(())
        }
    }
}
