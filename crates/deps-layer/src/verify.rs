//! `verify`: builds the layer the way the flake does (crane's `buildDepsOnly` commands and
//! environment) into a fresh target dir, then the real workspace on top of it, and reports every
//! external unit the real build compiled again, with the reason.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::build_log::{self, Artifact};
use crate::cargo::Cargo;
use crate::error::{Error, Result};
use crate::generate::{self, Options, Workspace};
use crate::layer_settings::WORKSPACE_LAYER;
use crate::plan_file::{COMMON, PlanFile};
use crate::progress::Step;
use crate::unit_graph::{Classified, UnitGraph};

#[derive(Debug, Clone)]
pub struct VerifyOptions {
    pub generate: Options,
    /// Variants to verify; empty means all.
    pub variants: Vec<String>,
    /// Build the common layer (no variant feature) first, then the variant on top.
    pub layered: bool,
    /// Also run `cargo clippy --all-targets` on the real workspace, as the flake's checks do.
    pub clippy: bool,
    /// Verify this layer folder (e.g. a hand-kept one) instead of a freshly generated layer.
    pub layer: Option<PathBuf>,
    /// Build layer and real build offline against the layer's lock vendored into one folder and
    /// nothing else, as the flake does (instead of the local registry cache).
    pub vendored: bool,
}

#[derive(Debug, Clone)]
pub struct Phase {
    pub name: String,
    pub seconds: f64,
    pub external_compiled: usize,
    pub external_fresh: usize,
    pub local_compiled: usize,
}

#[derive(Debug, Clone)]
pub struct Miss {
    pub phase: String,
    pub unit: String,
    pub cause: String,
}

#[derive(Debug, Clone)]
pub struct VariantReport {
    pub variant: String,
    pub layered: bool,
    pub phases: Vec<Phase>,
    /// Distinct external units the layer compiled (all its commands together).
    pub layer_units: usize,
    /// With `layered`: units the variant added on top of the common layer.
    pub delta_units: Option<usize>,
    /// With `layered`: crates whose features the variant changed, `name: +f -g`.
    pub changed_features: Vec<String>,
    pub misses: Vec<Miss>,
}

impl VariantReport {
    pub fn recompiled(&self) -> usize {
        self.misses.len()
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let how = if self.layered {
            "layered on the common layer"
        } else {
            "one layer"
        };
        if self.variant == WORKSPACE_LAYER {
            let _ = writeln!(out, "checks over every member ({how})");
        } else {
            let _ = writeln!(out, "variant {} ({how})", self.variant);
        }
        for phase in &self.phases {
            let _ = writeln!(
                out,
                "  {:<22} {:>7.1} s  external compiled {:>4}, external fresh {:>4}, workspace compiled {:>3}",
                phase.name,
                phase.seconds,
                phase.external_compiled,
                phase.external_fresh,
                phase.local_compiled
            );
        }
        let _ = writeln!(out, "  external units in the layer: {}", self.layer_units);
        if let Some(delta) = self.delta_units {
            let _ = writeln!(out, "  units the variant adds to the common layer: {delta}");
            if self.changed_features.is_empty() {
                let _ = writeln!(out, "  shared crates with changed features: none");
            } else {
                let _ = writeln!(out, "  shared crates with changed features:");
                for change in &self.changed_features {
                    let _ = writeln!(out, "    {change}");
                }
            }
        }
        let _ = writeln!(
            out,
            "  external units recompiled by the real build: {}",
            self.misses.len()
        );
        for miss in &self.misses {
            let _ = writeln!(out, "    [{}] {}: {}", miss.phase, miss.unit, miss.cause);
        }
        out
    }
}

/// One cargo command with JSON messages, its unit graph, and how long it took.
struct Ran {
    artifacts: Vec<Artifact>,
    units: Vec<Classified>,
    graph: UnitGraph,
    seconds: f64,
}

fn run_command(cargo: &Cargo, dir: &Path, label: &str, args: &[String]) -> Result<Ran> {
    let graph = UnitGraph::for_command(cargo, dir, args)?;
    let units = graph.classify();
    let mut full: Vec<&str> = args.iter().map(String::as_str).collect();
    full.push("--message-format=json-render-diagnostics");
    let started = Instant::now();
    let mut step = Step::start(cargo.progress, label, Some(graph.artifact_count()));
    let output = cargo.run_with_progress(dir, &full, &mut step)?;
    step.finish();
    let seconds = started.elapsed().as_secs_f64();
    Ok(Ran {
        artifacts: build_log::artifacts(&output.stdout),
        units,
        graph,
        seconds,
    })
}

/// A planned command's short name in the report: its subcommand, and `--no-run` for a test build.
fn command_name(args: &[String]) -> String {
    let mut name = args.first().cloned().unwrap_or_default();
    if args.iter().any(|arg| arg == "--no-run") {
        name.push_str(" --no-run");
    }
    name
}

/// The plan's argument lists as verify runs them: named, with the plan's profile.
fn planned(
    plan: &PlanFile,
    commands: impl IntoIterator<Item = Vec<String>>,
) -> Vec<(String, Vec<String>)> {
    commands
        .into_iter()
        .map(|args| (command_name(&args), plan.with_profile(&args)))
        .collect()
}

struct Context<'a> {
    cargo: Cargo,
    workspace: &'a Workspace,
    /// The real build's plan.
    plan: &'a PlanFile,
    /// The plan in the layer folder, for the layer's own commands.
    layer_plan: &'a PlanFile,
    /// The layer folder's files, the slices included.
    layer_files: &'a BTreeMap<String, String>,
    /// Where the layers' slices are written, one folder each (see [`slice_dir`]).
    slices_dir: PathBuf,
}

/// Writes the slice of the layer folder at `layer.dir` into `slices_dir/<name>` once and returns
/// that folder.
fn slice_dir(
    files: &BTreeMap<String, String>,
    slices_dir: &Path,
    name: &str,
    layer: &crate::plan_file::LayerPlan,
) -> Result<PathBuf> {
    let dir = slices_dir.join(name);
    if !dir.exists() {
        let prefix = format!("{}/", layer.dir);
        let slice: BTreeMap<String, String> = files
            .iter()
            .filter_map(|(path, content)| {
                path.strip_prefix(&prefix)
                    .map(|relative| (relative.to_string(), content.clone()))
            })
            .collect();
        generate::write_files(&dir, &slice)?;
    }
    Ok(dir)
}

/// Runs a group of commands, counting external/local units.
fn run_phase(
    context: &Context<'_>,
    dir: &Path,
    label: &str,
    commands: &[(String, Vec<String>)],
    is_local: &dyn Fn(&str) -> bool,
    runs: &mut Vec<(String, Ran)>,
) -> Result<Phase> {
    let mut phase = Phase {
        name: label.to_string(),
        seconds: 0.0,
        external_compiled: 0,
        external_fresh: 0,
        local_compiled: 0,
    };
    for (name, args) in commands {
        let ran = run_command(&context.cargo, dir, &format!("{label}: {name}"), args)?;
        phase.seconds += ran.seconds;
        for artifact in &ran.artifacts {
            match (is_local(&artifact.package_id), artifact.fresh) {
                (true, false) => phase.local_compiled += 1,
                (true, true) => {}
                (false, false) => phase.external_compiled += 1,
                (false, true) => phase.external_fresh += 1,
            }
        }
        runs.push((format!("{label} {name}"), ran));
    }
    Ok(phase)
}

pub fn verify(options: &VerifyOptions) -> Result<Vec<VariantReport>> {
    let mut reports = Vec::new();
    verify_each(options, |report| reports.push(report.clone()))?;
    Ok(reports)
}

/// Like [`verify`], handing each variant's report over as soon as it is done (a full workspace
/// build per variant can take long).
pub fn verify_each(options: &VerifyOptions, mut done: impl FnMut(&VariantReport)) -> Result<()> {
    let (layer, workspace) = match &options.layer {
        None => generate::generate(&options.generate, generate::DEFAULT_OUT)?,
        Some(dir) => (
            generate::Layer {
                files: crate::check::read_dir_files(dir)?,
            },
            generate::load_workspace(&options.generate)?,
        ),
    };
    let scratch = tempfile::Builder::new()
        .prefix("deps-layer-verify-")
        .tempdir()
        .map_err(|source| Error::Write {
            path: std::env::temp_dir(),
            source,
        })?;
    let layer_dir = scratch.path().join("layer");
    generate::write_files(&layer_dir, &layer.files)?;
    // Each layer's slice builds in a folder of its own, as in the flake: below the whole crate,
    // cargo would also read the whole crate's `.cargo/config.toml` and join its rustflags twice.
    let slices_dir = scratch.path().join("slices");
    // The layer builds with its own plan's commands; the real build is what the plan of this
    // workspace and selection says, so a given layer folder is checked against the build it
    // must serve (the same plan when the layer was just generated).
    let layer_plan = PlanFile::read(&layer_dir)?;
    let plan = match &options.layer {
        None => layer_plan.clone(),
        Some(_) => PlanFile::new(
            &workspace.variants,
            &options.generate.selection,
            &BTreeMap::new(),
            &generate::regenerate_command(generate::DEFAULT_OUT, &options.generate.selection),
        ),
    };
    let vendored = if options.vendored {
        Some(crate::vendor::vendor(
            &options.generate.cargo,
            &layer_dir,
            scratch.path(),
        )?)
    } else {
        None
    };
    let mut plan = plan;
    if workspace.settings.workspace_checks && plan.workspace_checks.is_none() {
        plan.add_workspace_checks();
    }
    let plan = plan;
    let builds = verified_builds(&plan, &layer_plan, options)?;
    let toolchain = workspace_toolchain(&workspace.root);
    let context_for = |target_dir: &Path| {
        let mut env = options.generate.cargo.env.clone();
        env.extend(toolchain.clone());
        env.push(("CARGO_TARGET_DIR".into(), OsString::from(target_dir)));
        env.extend(vendored.as_ref().map(crate::vendor::Vendored::env));
        // crane's configureCargoCommonVarsHook.
        env.push(("CARGO_BUILD_INCREMENTAL".into(), "false".into()));
        Context {
            cargo: Cargo {
                env,
                offline: true,
                progress: options.generate.cargo.progress,
            },
            workspace: &workspace,
            plan: &plan,
            layer_plan: &layer_plan,
            slices_dir: slices_dir.clone(),
            layer_files: &layer.files,
        }
    };
    // The common layer is built once; each variant starts from a copy of its target dir, as
    // crane's variant derivations start from the common layer's artifacts.
    let common = match layer_plan.layers.get(COMMON) {
        Some(common_layer) if options.layered => {
            let common_dir = scratch.path().join("target-common");
            let mut runs = Vec::new();
            let phase = run_phase(
                &context_for(&common_dir),
                &slice_dir(&layer.files, &slices_dir, COMMON, common_layer)?,
                &format!("layer {COMMON}"),
                &planned(&layer_plan, common_layer.commands().cloned()),
                &|id: &str| id.starts_with("path+file://"),
                &mut runs,
            )?;
            Some(Common {
                dir: common_dir,
                phase,
                runs,
            })
        }
        _ => None,
    };
    for build in builds {
        let target_dir = scratch.path().join(format!("target-{}", build.name));
        if let Some(common) = &common {
            copy_target_dir(&common.dir, &target_dir)?;
        }
        let report = verify_build(&context_for(&target_dir), options, common.as_ref(), &build)?;
        done(&report);
        // Each variant's target dir is a full build; keep the disk use to one at a time.
        let _ = std::fs::remove_dir_all(&target_dir);
    }
    Ok(())
}

/// The common layer's build, shared by the variants layered on it.
struct Common {
    dir: PathBuf,
    phase: Phase,
    runs: Vec<(String, Ran)>,
}

/// Copies a target dir keeping modification times, which cargo's fingerprints compare.
fn copy_target_dir(from: &Path, to: &Path) -> Result<()> {
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .map_err(|source| Error::Spawn {
            command: "cp -a".into(),
            source,
        })?;
    if !status.success() {
        return Err(Error::Write {
            path: to.to_path_buf(),
            source: std::io::Error::other("cp -a failed"),
        });
    }
    Ok(())
}

/// The layer is built outside the workspace, where a `rust-toolchain.toml` would not apply: pin
/// rustup to the toolchain the workspace uses, or every fingerprint would differ.
fn workspace_toolchain(root: &Path) -> Option<(String, OsString)> {
    let output = std::process::Command::new("rustc")
        .args(["--print", "sysroot"])
        .current_dir(root)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let sysroot = String::from_utf8_lossy(&output.stdout).trim().to_string();
    (!sysroot.is_empty()).then(|| ("RUSTUP_TOOLCHAIN".to_string(), OsString::from(sysroot)))
}

/// A build verify checks: a variant's, or the checks over every member; `name` is the
/// variant's or [`WORKSPACE_LAYER`].
struct VerifiedBuild {
    name: String,
    /// The layer, in the layer folder's plan, that the build starts from.
    layer: String,
    /// The real build's commands, without `--profile`.
    commands: Vec<Vec<String>>,
}

/// The builds `options.variants` names (all when it names none): variants, and the checks over
/// every member when the plan has them.
fn verified_builds(
    plan: &PlanFile,
    layer_plan: &PlanFile,
    options: &VerifyOptions,
) -> Result<Vec<VerifiedBuild>> {
    let workspace_checks = plan.workspace_checks.as_ref().and_then(|checks| {
        let layer = layer_plan.workspace_checks.as_ref()?.layer.clone();
        Some(VerifiedBuild {
            name: WORKSPACE_LAYER.to_string(),
            layer,
            commands: checks.real_build_commands(),
        })
    });
    let variant = |name: &str| -> Result<VerifiedBuild> {
        Ok(VerifiedBuild {
            name: name.to_string(),
            layer: layer_plan.variant(name)?.layer.clone(),
            commands: plan.variant(name)?.real_build_commands(options.clippy),
        })
    };
    if options.variants.is_empty() {
        let mut builds = plan
            .variants
            .keys()
            .map(|name| variant(name))
            .collect::<Result<Vec<_>>>()?;
        builds.extend(workspace_checks);
        return Ok(builds);
    }
    let mut builds = Vec::new();
    let mut workspace_checks = workspace_checks;
    for name in &options.variants {
        match workspace_checks.take() {
            Some(checks) if name == WORKSPACE_LAYER => builds.push(checks),
            other => {
                workspace_checks = other;
                builds.push(variant(name)?);
            }
        }
    }
    Ok(builds)
}

fn verify_build(
    context: &Context<'_>,
    options: &VerifyOptions,
    common: Option<&Common>,
    build: &VerifiedBuild,
) -> Result<VariantReport> {
    let workspace = context.workspace;
    let plan = context.plan;
    let layer_local = |id: &str| id.starts_with("path+file://");
    let real_local = |id: &str| workspace.local.contains(id);
    let mut layer_runs = Vec::new();
    let mut phases = Vec::new();
    let no_runs = Vec::new();
    let common_runs = common.map_or(&no_runs, |common| &common.runs);
    if let Some(common) = common {
        phases.push(common.phase.clone());
    }
    // Layered: the layers above the shared common one, each on the one below; otherwise the
    // variant's own layer alone.
    let layer_plan = context.layer_plan;
    let stack = layer_plan.stack_of(&build.layer);
    let own_layers = match (common, stack.split_first()) {
        (Some(_), Some(((COMMON, _), above))) => above.to_vec(),
        _ => stack.last().copied().into_iter().collect(),
    };
    for (name, layer) in own_layers {
        phases.push(run_phase(
            context,
            &slice_dir(context.layer_files, &context.slices_dir, name, layer)?,
            &format!("layer {name}"),
            &planned(layer_plan, layer.commands().cloned()),
            &layer_local,
            &mut layer_runs,
        )?);
    }
    let mut final_runs = Vec::new();
    phases.push(run_phase(
        context,
        &workspace.root,
        "real build",
        &planned(plan, build.commands.iter().cloned()),
        &real_local,
        &mut final_runs,
    )?);

    let all_layer: Vec<&(String, Ran)> = common_runs.iter().chain(&layer_runs).collect();
    let layer_units: BTreeSet<String> = all_layer
        .iter()
        .flat_map(|(_, ran)| &ran.artifacts)
        .filter(|artifact| !layer_local(&artifact.package_id))
        .map(Artifact::unit_key)
        .collect();
    let (delta_units, changed_features) = if options.layered {
        let common: BTreeSet<String> = common_runs
            .iter()
            .flat_map(|(_, ran)| &ran.artifacts)
            .filter(|artifact| !layer_local(&artifact.package_id))
            .map(Artifact::unit_key)
            .collect();
        let added: BTreeSet<String> = layer_runs
            .iter()
            .flat_map(|(_, ran)| &ran.artifacts)
            .filter(|artifact| !layer_local(&artifact.package_id) && !artifact.fresh)
            .map(Artifact::unit_key)
            .filter(|key| !common.contains(key))
            .collect();
        (
            Some(added.len()),
            changed_features(common_runs, &layer_runs),
        )
    } else {
        (None, Vec::new())
    };

    let layer_packages: BTreeSet<&str> = all_layer
        .iter()
        .flat_map(|(_, ran)| &ran.artifacts)
        .map(|artifact| artifact.package_id.as_str())
        .collect();
    let mut misses = Vec::new();
    for (phase, ran) in &final_runs {
        // Compare with the layer's units of the same command first (build with build, test with
        // test), so a feature difference is shown against its closest counterpart.
        let command = phase.strip_prefix("real build ").unwrap_or(phase);
        let same_command = |name: &String| name.ends_with(command);
        let mut layer_classified: Vec<&Classified> = all_layer
            .iter()
            .filter(|(name, _)| same_command(name))
            .flat_map(|(_, ran)| &ran.units)
            .collect();
        layer_classified.extend(
            all_layer
                .iter()
                .filter(|(name, _)| !same_command(name))
                .flat_map(|(_, ran)| &ran.units),
        );
        let recompiled: Vec<&Artifact> = ran
            .artifacts
            .iter()
            .filter(|artifact| !artifact.fresh && !real_local(&artifact.package_id))
            .collect();
        let recompiled_units: BTreeSet<usize> = recompiled
            .iter()
            .filter_map(|artifact| match_unit(&ran.units, artifact).map(|unit| unit.index))
            .collect();
        for artifact in recompiled {
            let cause = match match_unit(&ran.units, artifact) {
                _ if !layer_packages.contains(artifact.package_id.as_str()) => {
                    "not in the layer".to_string()
                }
                None => "not found in the real build's unit graph".to_string(),
                Some(unit) => explain(unit, &ran.graph, &recompiled_units, &layer_classified),
            };
            misses.push(Miss {
                phase: phase.clone(),
                unit: artifact.describe(),
                cause,
            });
        }
    }
    Ok(VariantReport {
        variant: build.name.clone(),
        layered: options.layered,
        phases,
        layer_units: layer_units.len(),
        delta_units,
        changed_features,
        misses,
    })
}

fn match_unit<'a>(units: &'a [Classified], artifact: &Artifact) -> Option<&'a Classified> {
    let features: BTreeSet<&String> = artifact.features.iter().collect();
    let candidates = || {
        units.iter().filter(|classified| {
            let unit = &classified.unit;
            unit.pkg_id == artifact.package_id
                && unit.target.name == artifact.target.name
                && unit.target.kind == artifact.target.kind
                && unit.features.iter().collect::<BTreeSet<_>>() == features
        })
    };
    candidates()
        .find(|classified| classified.unit.profile.opt_level == artifact.profile.opt_level)
        .or_else(|| candidates().next())
}

/// Why a unit of the real build was not reused from the layer.
fn explain(
    unit: &Classified,
    graph: &UnitGraph,
    recompiled: &BTreeSet<usize>,
    layer: &[&Classified],
) -> String {
    let same_target: Vec<&&Classified> = layer
        .iter()
        .filter(|other| {
            other.unit.pkg_id == unit.unit.pkg_id && other.unit.target.name == unit.unit.target.name
        })
        .collect();
    let same_side: Vec<&&Classified> = same_target
        .iter()
        .copied()
        .filter(|other| other.side == unit.side)
        .collect();
    if same_side.is_empty() {
        let other = same_target
            .first()
            .map(|other| other.side.describe())
            .unwrap_or("?");
        return format!(
            "host/target differs: the layer builds it for the {other}, the real build for the {}",
            unit.side.describe()
        );
    }
    let features: BTreeSet<&String> = unit.unit.features.iter().collect();
    let same_features: Vec<&&Classified> = same_side
        .iter()
        .copied()
        .filter(|other| other.unit.features.iter().collect::<BTreeSet<_>>() == features)
        .collect();
    if same_features.is_empty() {
        let closest = same_side
            .iter()
            .min_by_key(|other| {
                let theirs: BTreeSet<&String> = other.unit.features.iter().collect();
                theirs.symmetric_difference(&features).count()
            })
            .map(|other| other.unit.features.iter().collect::<BTreeSet<_>>())
            .unwrap_or_default();
        let added: Vec<String> = features
            .difference(&closest)
            .map(|f| format!("+{f}"))
            .collect();
        let missing: Vec<String> = closest
            .difference(&features)
            .map(|f| format!("-{f}"))
            .collect();
        return format!(
            "features differ from the layer's: {}",
            added
                .into_iter()
                .chain(missing)
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    if !same_features
        .iter()
        .any(|other| other.unit.profile == unit.unit.profile)
        && let Some(other) = same_features.first()
    {
        return format!(
            "profile differs: layer {:?}, real build {:?}",
            other.unit.profile, unit.unit.profile
        );
    }
    if !same_features.iter().any(|other| other.lto == unit.lto) {
        let theirs: Vec<String> = same_features
            .iter()
            .map(|other| format!("{:?}", other.lto))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        return format!(
            "LTO/crate-type differs: the layer embeds {}, the real build needs {:?}",
            theirs.join("/"),
            unit.lto
        );
    }
    let deps: Vec<String> = graph.units[unit.index]
        .dependencies
        .iter()
        .filter(|dep| recompiled.contains(&dep.index))
        .map(|dep| build_log::package_name(&graph.units[dep.index].pkg_id))
        .collect();
    if !deps.is_empty() {
        return format!("a dependency was recompiled: {}", deps.join(", "));
    }
    "same features, side, profile and LTO as in the layer: flags or environment differ".to_string()
}

/// Crates built by both the common layer and the variant, with the features the variant changed.
fn changed_features(common: &[(String, Ran)], variant: &[(String, Ran)]) -> Vec<String> {
    let collect = |runs: &[(String, Ran)]| {
        let mut map: BTreeMap<(String, String, String), BTreeSet<BTreeSet<String>>> =
            BTreeMap::new();
        for (_, ran) in runs {
            for artifact in &ran.artifacts {
                if artifact.package_id.starts_with("path+file://") || artifact.profile.test {
                    continue;
                }
                map.entry((
                    artifact.package_id.clone(),
                    artifact.target.name.clone(),
                    artifact.profile.opt_level.clone(),
                ))
                .or_default()
                .insert(artifact.features.iter().cloned().collect());
            }
        }
        map
    };
    let before = collect(common);
    let after = collect(variant);
    let mut changes = BTreeSet::new();
    for (key, sets) in &after {
        let Some(previous) = before.get(key) else {
            continue;
        };
        for set in sets.difference(previous) {
            let Some(closest) = previous
                .iter()
                .min_by_key(|old| old.symmetric_difference(set).count())
            else {
                continue;
            };
            let added: Vec<String> = set.difference(closest).map(|f| format!("+{f}")).collect();
            let removed: Vec<String> = closest.difference(set).map(|f| format!("-{f}")).collect();
            changes.insert(format!(
                "{}: {}",
                build_log::package_name(&key.0),
                added
                    .into_iter()
                    .chain(removed)
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
    }
    changes.into_iter().collect()
}
