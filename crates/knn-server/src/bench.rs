//! The `bench` subcommand: search throughput on a generated collection, to compare backends with
//! each other and with the machine's memory bandwidth.

use std::time::{Duration, Instant};

use anyhow::Context;
use knn_core::testing::random_matrix;
use knn_core::{Backend, Metric};

pub struct BenchConfig {
    pub rows: usize,
    pub dim: usize,
    pub batch: usize,
    pub k: usize,
    pub metric: Metric,
    /// Keep running batches until at least this long has passed (after one warm-up batch).
    pub min_duration: Duration,
}

#[derive(Debug)]
pub struct BenchReport {
    pub batches: usize,
    pub elapsed: Duration,
    pub queries_per_second: f64,
    /// Collection bytes scanned per second: every batch reads the whole collection once.
    pub effective_gb_per_second: f64,
    /// CPU time the process used while measuring (Linux only): on a shared machine, wall-clock
    /// rates understate what the backend does with the cores it gets.
    pub cpu_seconds: Option<f64>,
}

/// User plus system CPU time of this process, from `/proc/self/stat` (fields 14 and 15, in
/// clock ticks of 1/100 s, the `USER_HZ` of every Linux ABI).
pub fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may contain spaces; the fields after it are space-separated.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let user: f64 = fields.get(11)?.parse().ok()?;
    let system: f64 = fields.get(12)?.parse().ok()?;
    Some((user + system) / 100.0)
}

pub fn run(backend: &dyn Backend, config: &BenchConfig) -> anyhow::Result<BenchReport> {
    let vectors = config
        .metric
        .prepare(random_matrix(config.rows, config.dim, 1))
        .context("generating the collection")?;
    let queries = config
        .metric
        .prepare(random_matrix(config.batch, config.dim, 2))
        .context("generating the queries")?;
    let prepared = backend
        .upload(&vectors, config.metric)
        .context("uploading the collection")?;
    drop(vectors);
    prepared
        .search(&queries, config.k)
        .context("warm-up search")?;
    let cpu_start = process_cpu_seconds();
    let start = Instant::now();
    let mut batches = 0;
    while batches == 0 || start.elapsed() < config.min_duration {
        let hits = prepared.search(&queries, config.k).context("search")?;
        std::hint::black_box(hits);
        batches += 1;
    }
    let elapsed = start.elapsed();
    let cpu_seconds = process_cpu_seconds()
        .zip(cpu_start)
        .map(|(end, start)| end - start);
    let seconds = elapsed.as_secs_f64();
    let collection_bytes = (config.rows * config.dim * size_of::<f32>()) as f64;
    Ok(BenchReport {
        batches,
        elapsed,
        queries_per_second: (batches * config.batch) as f64 / seconds,
        effective_gb_per_second: batches as f64 * collection_bytes / seconds / 1e9,
        cpu_seconds,
    })
}
