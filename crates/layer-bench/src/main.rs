//! Command line of the benchmark. Not a test: it builds real workspaces several times over and
//! takes minutes to hours; its output is a markdown report.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Parser;
use deps_layer::output::{self, Marker, Protected};

use layer_bench::bench::{self, Config, Observer};
use layer_bench::strategy::{StrategyKind, Tools};
use layer_bench::{machine, report};

/// Compare dependency-layer strategies on a workspace: compile reuse and cache-key stability.
#[derive(Parser, Debug)]
#[command(name = "layer-bench", version)]
struct Args {
    /// Root manifest of the workspace to measure (it is copied; the original is not touched).
    #[arg(long, default_value = "Cargo.toml")]
    manifest_path: PathBuf,
    /// Variant from `[workspace.metadata.variants]`; repeat for several. `default`: no features.
    #[arg(long = "variant", default_value = "default")]
    variants: Vec<String>,
    /// Runs per strategy and variant; times are medians.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Where copies, layers and target dirs go (default: a temporary dir, removed at the end): a
    /// new or empty folder, or one an earlier run used (it holds `.layer-bench`).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Markdown report destination (it is also printed); an existing file is replaced only when
    /// layer-bench wrote it.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Comma-separated subset of: none, dummy-crate, cargo-chef, crane-keying, deps-layer.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "none,dummy-crate,cargo-chef,crane-keying,deps-layer"
    )]
    strategies: Vec<String>,
    /// The deps-layer binary (default: next to this binary).
    #[arg(long)]
    deps_layer: Option<PathBuf>,
    /// An installed cargo-chef binary; without it, `cargo install cargo-chef --locked` runs into
    /// `--tools-dir`.
    #[arg(long)]
    cargo_chef: Option<PathBuf>,
    /// Install root for cargo-chef (default: `<work-dir>/tools`); reused when it already has it.
    #[arg(long)]
    tools_dir: Option<PathBuf>,
    /// Keep each run's target dir instead of deleting it after measuring.
    #[arg(long)]
    keep_target_dirs: bool,
    /// Only compute the layer keys.
    #[arg(long)]
    skip_builds: bool,
    /// Only measure the builds.
    #[arg(long)]
    skip_keys: bool,
}

fn deps_layer_binary(explicit: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(path) = explicit {
        return Ok(path);
    }
    let exe = std::env::current_exe().context("cannot locate the layer-bench binary")?;
    let sibling = exe.with_file_name("deps-layer");
    if sibling.is_file() {
        return Ok(sibling);
    }
    bail!(
        "no deps-layer binary at {}: build it (`cargo build --release -p deps-layer`) or pass --deps-layer",
        sibling.display()
    )
}

fn cargo_chef_binary(explicit: Option<PathBuf>, tools_dir: &Path) -> Result<PathBuf> {
    if let Some(path) = explicit {
        return Ok(path);
    }
    let installed = tools_dir.join("bin/cargo-chef");
    if installed.is_file() {
        return Ok(installed);
    }
    eprintln!("installing cargo-chef into {}", tools_dir.display());
    let status = std::process::Command::new("cargo")
        .args(["install", "cargo-chef", "--locked", "--root"])
        .arg(tools_dir)
        .status()
        .context("cannot run `cargo install cargo-chef`")?;
    if !status.success() || !installed.is_file() {
        bail!(
            "`cargo install cargo-chef --locked --root {}` failed ({status})",
            tools_dir.display()
        );
    }
    Ok(installed)
}

/// Marks the work dir as the benchmark's: it deletes and recreates folders in it, so it takes
/// only a new, empty or earlier work dir, never a folder that holds anything else.
const WORK_DIR_MARKER: Marker = Marker {
    tool: "layer-bench",
    file: ".layer-bench",
    text: "This folder is a layer-bench work dir: layer-bench deletes and rewrites what is in it.\n",
    earlier: None,
};

/// The first line of every report file, by which a later run knows it may replace the file.
const REPORT_SIGNATURE: &str =
    "<!-- Written by layer-bench; rerun the command below to regenerate it. -->";

/// Writes the report, replacing only a report an earlier run wrote.
fn write_report(path: &Path, content: &str) -> Result<()> {
    output::replace_file(
        path,
        WORK_DIR_MARKER.tool,
        REPORT_SIGNATURE,
        &format!("{REPORT_SIGNATURE}\n{content}"),
    )?;
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let strategies = args
        .strategies
        .iter()
        .map(|s| StrategyKind::parse(s.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    let manifest_path = std::fs::canonicalize(&args.manifest_path)
        .with_context(|| format!("cannot read {}", args.manifest_path.display()))?;

    // Refused now, before the work dir is marked, rather than after hours of builds.
    if let Some(out) = &args.out {
        output::claim_file(out, WORK_DIR_MARKER.tool, REPORT_SIGNATURE)?;
    }
    let temp;
    let work_dir = match args.work_dir {
        Some(dir) => dir,
        None => {
            temp = tempfile::tempdir().context("cannot create a temporary work dir")?;
            temp.path().to_path_buf()
        }
    };
    let measured = Protected {
        path: manifest_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
        what: "the workspace being measured".into(),
    };
    let work_dir = output::claim_work_dir(&work_dir, &WORK_DIR_MARKER, &[measured])?;

    let needs = |kind| strategies.contains(&kind);
    let deps_layer = if needs(StrategyKind::DepsLayer) || needs(StrategyKind::CraneKeying) {
        deps_layer_binary(args.deps_layer)?
    } else {
        PathBuf::from("deps-layer")
    };
    let cargo_chef = if needs(StrategyKind::CargoChef) {
        let tools_dir = args.tools_dir.unwrap_or_else(|| work_dir.join("tools"));
        Some(cargo_chef_binary(args.cargo_chef, &tools_dir)?)
    } else {
        None
    };
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .context("neither CARGO_HOME nor HOME is set")?;

    let config = Config {
        manifest_path,
        variants: args.variants,
        runs: args.runs,
        work_dir,
        strategies,
        tools: Tools {
            cargo: "cargo".into(),
            deps_layer,
            cargo_chef,
        },
        cargo_home,
        keep_target_dirs: args.keep_target_dirs,
        skip_builds: args.skip_builds,
        skip_keys: args.skip_keys,
    };
    let mut observer = Printer {
        command,
        machine: machine::describe(),
        out: args.out,
    };
    let result = bench::run(&config, &mut observer)?;
    let text = report::render(&result, &observer.command, &observer.machine);
    print!("{text}");
    if let Some(out) = &observer.out {
        write_report(out, &text)?;
    }
    Ok(())
}

/// Progress to stderr; the report so far to `--out` after each measured build.
struct Printer {
    command: String,
    machine: machine::Machine,
    out: Option<PathBuf>,
}

impl Observer for Printer {
    fn progress(&mut self, line: &str) {
        eprintln!("{line}");
    }

    fn partial(&mut self, report: &bench::Report) {
        if let Some(out) = &self.out {
            let text = report::render(report, &self.command, &self.machine);
            let note = "_Partial: the run is still going or was stopped; rows below are the finished ones._\n\n";
            if let Err(e) = write_report(out, &format!("{note}{text}")) {
                eprintln!("cannot write the partial report: {e:#}");
            }
        }
    }
}
