use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;

use cache_report::{
    Error, Group, Nix, Report, installables_group, plan_groups, render_markdown, report_group,
};
use deps_layer::plan_file::PlanFile;

/// Which outputs Nix would build and which it would fetch from a binary cache, with sizes,
/// and whether each dependency layer is a cache hit.
///
/// With no installables: one group per variant of the flake: the layers, package and image its
/// variant plan names (`--plan`, or the flake's own, `legacyPackages.<system>.depsLayerPlan`,
/// which `lib.mkFlake` provides). With installables: one group of those.
/// Substituters and keys come from nix.conf or from NIX_ARGS, e.g.
/// `-- --option substituters https://NAME.cachix.org --option trusted-public-keys KEY`.
#[derive(Debug, Parser)]
#[command(name = "cache-report", version)]
struct Cli {
    /// Installables to report on as one group (flake references, or attributes with --file).
    installables: Vec<String>,

    /// Flake whose variants are reported (when no installables are given).
    #[arg(long, default_value = ".")]
    flake: String,

    /// The flake's variant plan (deps-layer's `plan.json`; default: the one the flake was
    /// evaluated with, `legacyPackages.<system>.depsLayerPlan`).
    #[arg(long)]
    plan: Option<PathBuf>,

    /// System of the packages to report on (default: this machine's).
    #[arg(long)]
    system: Option<String>,

    /// Report only these variants (repeat or comma-separate; default: every `deps-<v>`).
    #[arg(long = "variant", value_delimiter = ',')]
    variants: Vec<String>,

    /// Attributes of this Nix file instead of flake references, as `nix build --file`.
    #[arg(long)]
    file: Option<PathBuf>,

    /// An installable to report as a dependency layer (hit or miss); repeatable.
    #[arg(long = "layer")]
    layers: Vec<String>,

    /// Binary cache to ask for the size of each fetched path (e.g. https://NAME.cachix.org).
    #[arg(long)]
    cache: Option<String>,

    /// The nix command to run.
    #[arg(long, default_value = "nix")]
    nix: PathBuf,

    /// Print the report as JSON instead of a markdown table.
    #[arg(long)]
    json: bool,

    /// List at most this many paths per list in the markdown report (JSON lists all).
    #[arg(long, default_value_t = 40, value_name = "N")]
    max_listed: usize,

    /// Also append the markdown report to this file (e.g. "$GITHUB_STEP_SUMMARY").
    #[arg(long, value_name = "FILE")]
    append_markdown: Option<PathBuf>,

    /// Arguments passed on to `nix build --dry-run` and `nix eval`.
    #[arg(last = true, value_name = "NIX_ARGS")]
    nix_args: Vec<String>,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let nix = Nix {
        program: cli.nix.clone(),
        file: cli.file.clone(),
        extra_args: cli.nix_args.clone(),
    };
    let by_hand = !cli.installables.is_empty() || !cli.layers.is_empty();
    let (system, groups): (Option<String>, Vec<Group>) = if by_hand {
        (
            cli.system.clone(),
            vec![installables_group(&cli.installables, &cli.layers)],
        )
    } else {
        if cli.file.is_some() {
            return Err(Error::NothingToReport.into());
        }
        let system = match &cli.system {
            Some(system) => system.clone(),
            None => nix
                .current_system()
                .context("finding this machine's system")?,
        };
        let packages = nix
            .package_names(&cli.flake, &system)
            .with_context(|| format!("listing packages.{system} of {}", cli.flake))?;
        let (plan_path, text) = match &cli.plan {
            Some(path) => (
                path.clone(),
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading the variant plan {}", path.display()))?,
            ),
            None => {
                let attribute = format!("{}#legacyPackages.{system}.depsLayerPlan", cli.flake);
                let text = nix
                    .flake_plan(&cli.flake, &system)
                    .with_context(|| format!("reading {attribute}"))?
                    .ok_or_else(|| Error::NoPlan {
                        attribute: attribute.clone(),
                    })?;
                (PathBuf::from(attribute), text)
            }
        };
        let plan = PlanFile::parse(&plan_path, &text)?;
        let groups = plan_groups(
            &cli.flake,
            &system,
            &plan,
            &plan_path,
            &packages,
            &cli.variants,
        )?;
        (Some(system), groups)
    };
    let mut reports = Vec::with_capacity(groups.len());
    for group in &groups {
        let report = report_group(&nix, group, cli.cache.as_deref())
            .with_context(|| format!("reporting on {}", group.name))?;
        reports.push(report);
    }
    let report = Report {
        system,
        cache: cli.cache,
        groups: reports,
    };
    let markdown = render_markdown(&report, cli.max_listed);
    if let Some(path) = &cli.append_markdown {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut file| file.write_all(markdown.as_bytes()))
            .with_context(|| format!("appending the report to {}", path.display()))?;
    }
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{markdown}");
    }
    Ok(())
}
