//! Command line of deps-layer.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use deps_layer::cargo::Cargo;
use deps_layer::generate::{self, DEFAULT_OUT, Options};
use deps_layer::verify::{self, VerifyOptions};

#[derive(Parser)]
#[command(
    version,
    about = "Generates, checks and verifies the dependency layer of a Cargo workspace"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write the layer (Cargo.toml, Cargo.lock, sources) for the workspace.
    Generate(Common),
    /// Exit 1 when the layer on disk is not what `generate` would write.
    Check(Common),
    /// Build the layer as the flake does, then the real workspace on top; exit 1 if the real build
    /// compiled any external unit again.
    Verify(VerifyArgs),
}

#[derive(Args)]
struct VerifyArgs {
    #[command(flatten)]
    common: Common,
    /// Variant to verify (repeatable; default: every variant).
    #[arg(long = "variant")]
    variants: Vec<String>,
    /// Build the common layer first, then the variant's layer on top of it.
    #[arg(long)]
    layered: bool,
    /// Also run `cargo clippy --all-targets` on the real workspace.
    #[arg(long)]
    clippy: bool,
    /// Verify this layer folder instead of a freshly generated one.
    #[arg(long)]
    layer: Option<PathBuf>,
    /// Vendor the layer's lock (`cargo vendor`) and build both the layer and the real workspace
    /// offline against that folder only, as the flake does.
    #[arg(long)]
    vendored: bool,
}

#[derive(Args)]
struct Common {
    /// Manifest of the workspace (default: ./Cargo.toml).
    #[arg(long, default_value = "Cargo.toml")]
    manifest_path: PathBuf,
    /// Output folder (default: nix/deps under the workspace root).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Build only these packages in the real build (default: the whole workspace).
    #[arg(long = "package", short = 'p')]
    packages: Vec<String>,
    /// Build only these binaries in the real build.
    #[arg(long = "bin")]
    bins: Vec<String>,
    /// The real build selects the workspace's default members (plain `cargo build`).
    #[arg(long, conflicts_with_all = ["packages", "bins"])]
    default_members: bool,
    /// Do not touch the network (all crates must be in the local cache).
    #[arg(long)]
    offline: bool,
}

impl Common {
    fn options(&self) -> Options {
        let mut options = Options::new(self.manifest_path.clone());
        if self.default_members || !self.packages.is_empty() || !self.bins.is_empty() {
            options.selection.clear();
            for package in &self.packages {
                options
                    .selection
                    .extend(["--package".to_string(), package.clone()]);
            }
            for bin in &self.bins {
                options.selection.extend(["--bin".to_string(), bin.clone()]);
            }
        }
        options.cargo = Cargo {
            offline: self.offline,
            ..Cargo::default()
        };
        options
    }

    /// The output folder and its spelling relative to the workspace root, for the header.
    fn out(&self, root: &Path) -> (PathBuf, String) {
        match &self.out {
            None => (root.join(DEFAULT_OUT), DEFAULT_OUT.to_string()),
            Some(out) => {
                let absolute = std::path::absolute(out).unwrap_or_else(|_| out.clone());
                let shown = absolute
                    .strip_prefix(root)
                    .map(|relative| relative.to_string_lossy().into_owned())
                    .unwrap_or_else(|_| out.to_string_lossy().into_owned());
                (absolute, shown)
            }
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Verify(args) => {
            let options = VerifyOptions {
                generate: args.common.options(),
                variants: args.variants,
                layered: args.layered,
                clippy: args.clippy,
                layer: args.layer,
                vendored: args.vendored,
            };
            let mut missed = 0;
            verify::verify_each(&options, |report| {
                print!("{}", report.render());
                missed += report.recompiled();
            })?;
            if missed > 0 {
                println!("FAIL: the real build recompiled {missed} external unit(s)");
                return Ok(ExitCode::from(1));
            }
            println!("OK: the real build reused every external unit from the layer");
            Ok(ExitCode::SUCCESS)
        }
        Command::Generate(common) => {
            let options = common.options();
            let workspace = generate::load_workspace(&options)?;
            let (out, shown) = common.out(&workspace.root);
            let (layer, _) = generate::generate(&options, &shown)?;
            generate::write_layer(&layer, &out)?;
            println!("wrote {} ({} files)", out.display(), layer.files.len());
            Ok(ExitCode::SUCCESS)
        }
        Command::Check(common) => {
            let options = common.options();
            let workspace = generate::load_workspace(&options)?;
            let (out, shown) = common.out(&workspace.root);
            let (layer, _) = generate::generate(&options, &shown)?;
            let found = deps_layer::check::read_dir_files(&out)?;
            match deps_layer::check::first_difference(&layer, &found) {
                None => {
                    println!("{} is up to date", out.display());
                    Ok(ExitCode::SUCCESS)
                }
                Some(difference) => {
                    println!("{} is stale: {difference}", out.display());
                    println!(
                        "regenerate it with: cargo run --locked -p deps-layer -- {}",
                        layer_command(&layer)
                    );
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}

/// The regenerate command recorded in the layer's header.
fn layer_command(layer: &generate::Layer) -> String {
    layer
        .files
        .get("Cargo.toml")
        .and_then(|manifest| {
            manifest
                .lines()
                .find_map(|line| line.strip_prefix("# Regenerate with: deps-layer "))
        })
        .unwrap_or("generate")
        .to_string()
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(2)
        }
    }
}
