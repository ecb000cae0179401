//! Command line of deps-layer.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use deps_layer::cargo::Cargo;
use deps_layer::error::Error;
use deps_layer::generate::{self, DEFAULT_OUT, Options};
use deps_layer::init::{self, InitOptions};
use deps_layer::layer_report::LayerReport;
use deps_layer::output;
use deps_layer::progress::Style;
use deps_layer::shell;
use deps_layer::verify::{self, VerifyOptions};

const DEFAULT_MANIFEST: &str = "Cargo.toml";

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
    /// Set the workspace up to build on the library's flake: write flake.nix, add a variants table
    /// to the root Cargo.toml when it has none, and generate nix/deps.
    Init(InitArgs),
    /// Say whether a build on a layer compiled external units again, from cargo's JSON messages
    /// (crane's cargoBuildLog), and write the report; or check a report written before.
    LayerReport(LayerReportArgs),
    /// Prepare one step of a variant's chain of member steps in the current folder (the flake
    /// runs it before cargo): stand-in targets for the later members, the target folder from the
    /// previous step's, and cargo's record of the step's own units removed, so cargo compiles
    /// that member again.
    MemberStep(MemberStepArgs),
    /// After a member step's build: replace every file of the target folder that is byte for
    /// byte the one at the same place in the previous step's stored folder by a link to it, so
    /// the step stores only what it built.
    LinkUnchanged(LinkUnchangedArgs),
}

#[derive(Args)]
struct LinkUnchangedArgs {
    /// The previous step's stored target folder (or the unpacked layer's).
    #[arg(long)]
    previous: PathBuf,
    /// The step's target folder.
    #[arg(long, default_value = "target")]
    target: PathBuf,
}

#[derive(Args)]
struct MemberStepArgs {
    /// The variant's `memberSteps` from plan.json, as JSON.
    #[arg(long)]
    steps: String,
    /// Which step to prepare, from 0.
    #[arg(long)]
    index: usize,
    /// The workspace copy the step builds in.
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// The previous step's stored target folder (or the unpacked layer's): the step's target
    /// folder starts from it, linking what this step's build never writes and copying the rest.
    #[arg(long)]
    link_from: Option<PathBuf>,
    /// The target folder the step builds in (with --link-from it must not exist yet).
    #[arg(long, default_value = "target")]
    target: PathBuf,
}

#[derive(Args)]
struct LayerReportArgs {
    /// The variant whose build this is, named in the fix a miss prints (a package leaves it out:
    /// a variant without features builds the very package cpu does).
    #[arg(long, conflicts_with = "every_member")]
    variant: Option<String>,
    /// The build is the checks over every member (`workspace-checks = true`), on their own
    /// layer: a miss there means a stale layer, never a variant's selection.
    #[arg(long)]
    every_member: bool,
    /// The layer's flake output (deps-cuda); required with --log.
    #[arg(long, required_unless_present = "check")]
    layer: Option<String>,
    /// A file of cargo's JSON messages (repeatable: every command of the build).
    #[arg(long = "log", required_unless_present = "check")]
    logs: Vec<PathBuf>,
    /// Where to write the report (JSON).
    #[arg(long, conflicts_with = "check")]
    out: Option<PathBuf>,
    /// Check this report instead (exit 1 on a miss), as the flake's layer check does.
    #[arg(long, conflicts_with = "logs")]
    check: Option<PathBuf>,
    /// What a miss does to the build: `warn` (print it, exit 0) or `error` (exit 1).
    #[arg(long, value_enum, default_value_t = OnMiss::Warn)]
    on_miss: OnMiss,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum OnMiss {
    Warn,
    Error,
}

#[derive(Args)]
struct InitArgs {
    /// Manifest of the workspace (default: ./Cargo.toml).
    #[arg(long, default_value = DEFAULT_MANIFEST)]
    manifest_path: PathBuf,
    /// Flake reference of the library the new flake.nix calls (default: $DEPS_LAYER_LIBRARY,
    /// else the library's published location, github:deps-layer/deps-layer); a fork passes its
    /// own URL.
    #[arg(long)]
    library: Option<String>,
    /// Replace an existing flake.nix.
    #[arg(long)]
    force: bool,
    /// Do not touch the network (all crates must be in the local cache).
    #[arg(long)]
    offline: bool,
}

#[derive(Args)]
struct VerifyArgs {
    #[command(flatten)]
    common: Common,
    /// Variant to verify, or `workspace` for the checks over every member (repeatable; default:
    /// every variant, and those checks when the workspace has them).
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
    #[arg(long, default_value = DEFAULT_MANIFEST)]
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

    /// The `generate` command with the options this run was given, for the user to copy.
    fn regenerate_command(&self, program: &str) -> String {
        let mut words = vec![program.to_string(), "generate".into()];
        if self.manifest_path != Path::new(DEFAULT_MANIFEST) {
            words.push("--manifest-path".into());
            words.push(self.manifest_path.to_string_lossy().into_owned());
        }
        if let Some(out) = &self.out {
            words.push("--out".into());
            words.push(out.to_string_lossy().into_owned());
        }
        for package in &self.packages {
            words.extend(["--package".to_string(), package.clone()]);
        }
        for bin in &self.bins {
            words.extend(["--bin".to_string(), bin.clone()]);
        }
        if self.default_members {
            words.push("--default-members".into());
        }
        if self.offline {
            words.push("--offline".into());
        }
        words
            .iter()
            .map(|word| shell::word(word))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The output folder and its spelling relative to the workspace root, for the header.
    fn out(&self, root: &Path) -> Result<(PathBuf, String), Error> {
        match &self.out {
            None => Ok((root.join(DEFAULT_OUT), DEFAULT_OUT.to_string())),
            Some(out) => {
                if let Some(c) = shell::unprintable(&out.to_string_lossy()) {
                    return Err(Error::Refused {
                        path: out.clone(),
                        reason: format!(
                            "--out has the control character {c:?}, which the generated files' header cannot show"
                        ),
                    });
                }
                let absolute = std::path::absolute(out).unwrap_or_else(|_| out.clone());
                let shown = absolute
                    .strip_prefix(root)
                    .map(|relative| relative.to_string_lossy().into_owned())
                    .unwrap_or_else(|_| out.to_string_lossy().into_owned());
                Ok((absolute, shown))
            }
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Verify(args) => {
            let mut generate = args.common.options();
            generate.cargo.progress = Style::detect();
            let options = VerifyOptions {
                generate,
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
        Command::LayerReport(args) => {
            let report = match (&args.check, &args.layer) {
                (Some(path), _) => LayerReport::read(path)?,
                (None, Some(layer)) => LayerReport::of_logs(layer, &args.logs)?,
                (None, None) => anyhow::bail!("--layer is required with --log"),
            };
            if let Some(out) = &args.out {
                std::fs::write(out, report.to_json()).map_err(|source| Error::Write {
                    path: out.clone(),
                    source,
                })?;
            }
            eprintln!("{}", report.summary());
            let builds = if args.every_member {
                deps_layer::layer_report::Builds::EveryMember
            } else {
                deps_layer::layer_report::Builds::Variant(args.variant.as_deref())
            };
            eprint!("{}", report.explain(builds));
            let fails = args.check.is_some() || args.on_miss == OnMiss::Error;
            Ok(if fails && !report.misses.is_empty() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::MemberStep(args) => {
            let steps: Vec<deps_layer::member_steps::MemberStep> =
                serde_json::from_str(&args.steps).map_err(|err| {
                    anyhow::anyhow!("--steps is not a plan's memberSteps list: {err}")
                })?;
            let stand_ins = deps_layer::member_steps::stage(&args.root, &steps, args.index)?;
            if let Some(previous) = &args.link_from {
                let rebuildable = deps_layer::member_steps::rebuildable(&steps);
                let carried =
                    deps_layer::linked_artifacts::inherit(previous, &args.target, &rebuildable)?;
                eprintln!(
                    "artifacts from {}: {} files linked, {} copied",
                    previous.display(),
                    carried.linked,
                    carried.copied
                );
            }
            let removed = deps_layer::member_steps::invalidate(&args.target, &steps, args.index)?;
            eprintln!(
                "member step {} of {}: {} ({} of its units to compile again, {} stand-in targets for the later members)",
                args.index + 1,
                steps.len(),
                steps[args.index].name,
                removed,
                stand_ins.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::LinkUnchanged(args) => {
            let linked =
                deps_layer::linked_artifacts::link_unchanged(&args.target, &args.previous)?;
            eprintln!(
                "{} files unchanged since {}, linked",
                linked,
                args.previous.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Generate(common) => {
            let options = common.options();
            let workspace = generate::load_workspace(&options)?;
            let (out, shown) = common.out(&workspace.root)?;
            if let Some(warning) = generate::native_cpu_warning(&workspace.root)? {
                eprintln!("{warning}");
            }
            let protected = workspace.protected();
            // Refused before the minutes of cargo runs, and again when writing.
            output::claim(&out, &generate::MARKER, &protected)?;
            let layer = generate::generate_for(&options, &workspace, &shown)?;
            let written = output::replace_dir(&out, &generate::MARKER, &layer.files, &protected)?;
            println!("wrote {} ({} files)", written.display(), layer.files.len());
            Ok(ExitCode::SUCCESS)
        }
        Command::Init(args) => {
            let mut generate = Options::new(args.manifest_path);
            generate.cargo = Cargo {
                offline: args.offline,
                ..Cargo::default()
            };
            let library = args
                .library
                .or_else(|| {
                    std::env::var(init::LIBRARY_VAR)
                        .ok()
                        .filter(|library| !library.is_empty())
                })
                .unwrap_or_else(|| init::DEFAULT_LIBRARY.to_string());
            let report = init::init(&InitOptions {
                generate,
                library: library.clone(),
                force: args.force,
            })?;
            if let Some(warning) = &report.warning {
                eprintln!("{warning}");
            }
            print!("{}", report.render(&library));
            Ok(ExitCode::SUCCESS)
        }
        Command::Check(common) => {
            let options = common.options();
            let workspace = generate::load_workspace(&options)?;
            let (out, shown) = common.out(&workspace.root)?;
            let layer = generate::generate_for(&options, &workspace, &shown)?;
            let expected = generate::Layer {
                files: layer.on_disk(),
            };
            let found = deps_layer::check::read_dir_files(&out)?;
            match deps_layer::check::first_difference(&expected, &found) {
                None => {
                    println!("{} is up to date", out.display());
                    Ok(ExitCode::SUCCESS)
                }
                Some(difference) => {
                    eprintln!("{} is stale: {difference}", out.display());
                    eprintln!(
                        "regenerate it with: {}",
                        common.regenerate_command(&program_name())
                    );
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}

/// How the user called this binary: its file name (`deps-layer` under `cargo run`, or when
/// argv[0] says nothing).
fn program_name() -> String {
    std::env::args_os()
        .next()
        .and_then(|arg0| {
            Path::new(&arg0)
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
        })
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "deps-layer".into())
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
