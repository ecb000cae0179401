//! The measurement: build every strategy's layer and then the real workspace into fresh target
//! dirs, interleaving strategies within each run so that load from other work on the machine
//! falls on all of them alike; then compute each layer key before and after each everyday change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::changes::{self, Change};
use crate::error::BenchError;
use crate::fsutil;
use crate::process::{self, Step};
use crate::stats;
use crate::strategy::{self, StrategyKind, Tools};
use crate::table::{BuildRow, KeyRow};
use crate::workspace::{self, Workspace};
use deps_layer::build_log::{self, UnitCounts};

#[derive(Debug, Clone)]
pub struct Config {
    pub manifest_path: PathBuf,
    pub variants: Vec<String>,
    pub runs: usize,
    pub work_dir: PathBuf,
    pub strategies: Vec<StrategyKind>,
    pub tools: Tools,
    pub cargo_home: PathBuf,
    pub keep_target_dirs: bool,
    pub skip_builds: bool,
    pub skip_keys: bool,
}

#[derive(Debug, Clone)]
pub struct VariantResult {
    pub variant: String,
    pub features: Vec<String>,
    pub rows: Vec<BuildRow>,
    pub cold: Option<Duration>,
    /// Per strategy, the external packages its final build recompiled in the first run.
    pub recompiled: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct KeyResult {
    /// Per change: its label and what exactly was changed.
    pub changes: Vec<(String, String)>,
    pub rows: Vec<KeyRow>,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub workspace: PathBuf,
    pub runs: usize,
    pub variants: Vec<VariantResult>,
    pub keys: Option<KeyResult>,
}

#[derive(Debug, Clone, Default)]
struct Sample {
    layer: Duration,
    final_build: Duration,
    counts: UnitCounts,
}

/// `registry+https://…#serde@1.0.0` → `serde@1.0.0`; older `serde 1.0.0 (…)` → `serde@1.0.0`.
pub fn short_package_id(id: &str) -> String {
    if let Some((_, tail)) = id.rsplit_once('#') {
        return tail.to_string();
    }
    let mut parts = id.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(name), Some(version)) => format!("{name}@{version}"),
        _ => id.to_string(),
    }
}

/// Environment of every measured command. Layers are built outside the workspace, where its
/// `rust-toolchain.toml` does not apply: pinning rustup to the workspace's toolchain keeps the
/// compiler (and so every fingerprint) the same on both sides. Incremental is off as in crane.
fn build_env(workspace_root: &Path, target: &Path) -> Vec<(String, String)> {
    let mut env = vec![
        ("CARGO_TARGET_DIR".to_string(), target.display().to_string()),
        ("CARGO_BUILD_INCREMENTAL".to_string(), "false".to_string()),
    ];
    let sysroot = std::process::Command::new("rustc")
        .args(["--print", "sysroot"])
        .current_dir(workspace_root)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty());
    if let Some(sysroot) = sysroot {
        env.push(("RUSTUP_TOOLCHAIN".to_string(), sysroot));
    }
    env
}

fn run_steps(
    steps: &[Step],
    env: &[(String, String)],
    log: &Path,
) -> Result<(Duration, UnitCounts), BenchError> {
    let mut elapsed = Duration::ZERO;
    let mut artifacts = Vec::new();
    for step in steps {
        let mut step = step.clone();
        for (key, value) in env {
            step = step.env(key, value.clone());
        }
        let outcome = process::run(&step, log)?;
        elapsed += outcome.elapsed;
        artifacts.extend(build_log::artifacts(outcome.stdout.as_bytes()));
    }
    Ok((elapsed, build_log::count_units(&artifacts)))
}

/// The strategies that really build, in the order given (crane-keying builds as deps-layer).
fn measured_strategies(selected: &[StrategyKind]) -> Vec<StrategyKind> {
    let mut measured = Vec::new();
    for kind in selected.iter().map(|k| k.builds_like()) {
        if !measured.contains(&kind) {
            measured.push(kind);
        }
    }
    measured
}

/// Receives progress lines and, after every measured build, the report so far, so a long run
/// that is stopped still leaves its finished rows behind.
pub trait Observer {
    fn progress(&mut self, line: &str);
    fn partial(&mut self, report: &Report);
}

pub fn run(config: &Config, observer: &mut dyn Observer) -> Result<Report, BenchError> {
    if config.runs == 0 {
        return Err(BenchError::Invalid("--runs must be at least 1".into()));
    }
    let original = workspace::load(&config.manifest_path)?;
    let mut variant_features = Vec::new();
    for variant in &config.variants {
        variant_features.push((
            variant.clone(),
            original.variant_features(variant)?,
            original.variant_selection(variant)?,
        ));
    }

    let snapshot = config.work_dir.join("workspace");
    fsutil::remove_dir_if_present(&snapshot)?;
    fsutil::copy_workspace(&original.root, &snapshot)?;
    let ws = workspace::load(&snapshot.join("Cargo.toml"))?;
    let log = config.work_dir.join("commands.log");
    observer.progress(&format!(
        "workspace copied to {}; command log: {}",
        snapshot.display(),
        log.display()
    ));

    // Keys first: they take seconds, builds take hours, and a partial report should have them.
    let mut report = Report {
        workspace: original.root.clone(),
        runs: config.runs,
        variants: Vec::new(),
        keys: None,
    };
    if !config.skip_keys {
        report.keys = Some(measure_keys(config, &ws, &log, observer)?);
        observer.partial(&report);
    }
    if !config.skip_builds {
        process::run(
            &Step::new(&config.tools.cargo, &["fetch", "--locked"], &snapshot),
            &log,
        )?;
        let layers_root = config.work_dir.join("layers");
        let measured = measured_strategies(&config.strategies);
        for kind in &measured {
            let dir = strategy::layer_dir(&layers_root, *kind);
            fsutil::remove_dir_if_present(&dir)?;
            strategy::prepare(*kind, &ws, &config.tools, &dir, &log)?;
        }
        for (variant, features, selection) in &variant_features {
            let target = VariantTarget {
                name: variant,
                features,
                selection,
                layers_root: &layers_root,
                measured: &measured,
            };
            let result = measure_variant(config, &ws, &target, &log, &mut report, observer)?;
            report.variants.push(result);
        }
    }
    Ok(report)
}

struct VariantTarget<'a> {
    name: &'a str,
    features: &'a [String],
    /// The real build's package selection (the variant's `packages`, else `--workspace`).
    selection: &'a [String],
    layers_root: &'a Path,
    measured: &'a [StrategyKind],
}

fn measure_variant(
    config: &Config,
    ws: &Workspace,
    target_variant: &VariantTarget<'_>,
    log: &Path,
    report: &mut Report,
    observer: &mut dyn Observer,
) -> Result<VariantResult, BenchError> {
    let VariantTarget {
        name: variant,
        features,
        selection,
        layers_root,
        measured,
    } = *target_variant;
    let mut samples: BTreeMap<StrategyKind, Vec<Sample>> = BTreeMap::new();
    for run in 1..=config.runs {
        for kind in measured {
            let run_dir = config
                .work_dir
                .join("runs")
                .join(variant)
                .join(format!("{}-{run}", kind.name()));
            fsutil::remove_dir_if_present(&run_dir)?;
            let target = run_dir.join("target");
            let scratch = run_dir.join("scratch");
            std::fs::create_dir_all(&scratch).map_err(|source| BenchError::Io {
                path: scratch.clone(),
                source,
            })?;
            let layer_src = strategy::layer_dir(layers_root, *kind);
            let layer_steps = strategy::layer_steps(
                *kind,
                &config.tools,
                &layer_src,
                &scratch,
                variant,
                features,
            )?;
            observer.progress(&format!(
                "[{variant} run {run}/{}] {}: layer",
                config.runs,
                kind.name()
            ));
            let env = build_env(&ws.root, &target);
            let (layer, _) = run_steps(&layer_steps, &env, log)?;
            observer.progress(&format!(
                "[{variant} run {run}/{}] {}: final build",
                config.runs,
                kind.name()
            ));
            let (final_build, counts) = run_steps(
                &strategy::final_steps(&config.tools.cargo, &ws.root, selection, features),
                &env,
                log,
            )?;
            observer.progress(&format!(
                "[{variant} run {run}/{}] {}: layer {:.1}s, final {:.1}s, external units recompiled {}",
                config.runs,
                kind.name(),
                layer.as_secs_f64(),
                final_build.as_secs_f64(),
                counts.external_compiled
            ));
            samples.entry(*kind).or_default().push(Sample {
                layer,
                final_build,
                counts,
            });
            if !config.keep_target_dirs {
                fsutil::remove_dir_if_present(&run_dir)?;
            }
            let mut so_far = report.clone();
            so_far
                .variants
                .push(summarize(config, variant, features, &samples));
            observer.partial(&so_far);
        }
    }
    Ok(summarize(config, variant, features, &samples))
}

/// Medians per strategy, in the order the strategies were asked for.
fn summarize(
    config: &Config,
    variant: &str,
    features: &[String],
    samples: &BTreeMap<StrategyKind, Vec<Sample>>,
) -> VariantResult {
    let cold = samples
        .get(&StrategyKind::None)
        .and_then(|s| stats::median_duration(&s.iter().map(|x| x.final_build).collect::<Vec<_>>()));
    let mut rows = Vec::new();
    let mut recompiled = BTreeMap::new();
    for kind in &config.strategies {
        let Some(runs) = samples.get(&kind.builds_like()) else {
            continue;
        };
        let median = |f: &dyn Fn(&Sample) -> Duration| {
            stats::median_duration(&runs.iter().map(f).collect::<Vec<_>>())
        };
        let count = |f: &dyn Fn(&Sample) -> usize| {
            stats::median_count(&runs.iter().map(f).collect::<Vec<_>>())
        };
        let note = if *kind == StrategyKind::CraneKeying {
            "build numbers are deps-layer's: same layer content, only the key differs".to_string()
        } else if *kind == StrategyKind::None {
            "cold build, no layer".to_string()
        } else {
            String::new()
        };
        rows.push(BuildRow {
            strategy: kind.name().to_string(),
            layer: if *kind == StrategyKind::None {
                None
            } else {
                median(&|s| s.layer)
            },
            final_build: median(&|s| s.final_build).unwrap_or_default(),
            external_units_recompiled: count(&|s| s.counts.external_compiled).unwrap_or_default(),
            external_units_reused: count(&|s| s.counts.external_fresh).unwrap_or_default(),
            note,
        });
        let mut packages: Vec<String> = runs[0]
            .counts
            .external_compiled_ids
            .iter()
            .map(|id| short_package_id(id))
            .collect();
        packages.sort();
        packages.dedup();
        recompiled.insert(kind.name().to_string(), packages);
    }
    VariantResult {
        variant: variant.to_string(),
        features: features.to_vec(),
        rows,
        cold,
        recompiled,
    }
}

fn measure_keys(
    config: &Config,
    ws: &Workspace,
    log: &Path,
    observer: &mut dyn Observer,
) -> Result<KeyResult, BenchError> {
    let keys_root = config.work_dir.join("keys");
    fsutil::remove_dir_if_present(&keys_root)?;
    let mut base = BTreeMap::new();
    for kind in &config.strategies {
        let scratch = keys_root.join("base").join(kind.name());
        base.insert(
            *kind,
            strategy::key(*kind, &config.tools, &ws.root, &scratch, log)?,
        );
    }
    let mut changed: BTreeMap<StrategyKind, Vec<Option<bool>>> = BTreeMap::new();
    let mut descriptions = Vec::new();
    for (index, change) in Change::ALL.iter().enumerate() {
        let copy = keys_root.join(format!("change-{index}")).join("workspace");
        fsutil::copy_workspace(&ws.root, &copy)?;
        let what = changes::apply(*change, ws, &copy, &config.cargo_home)?;
        observer.progress(&format!("key check {}: {what}", change.label()));
        descriptions.push((change.label().to_string(), what));
        for kind in &config.strategies {
            let scratch = keys_root.join(format!("change-{index}")).join(kind.name());
            let after = strategy::key(*kind, &config.tools, &copy, &scratch, log)?;
            let before = base.get(kind).cloned().flatten();
            changed
                .entry(*kind)
                .or_default()
                .push(match (before, after) {
                    (Some(b), Some(a)) => Some(a != b),
                    _ => None,
                });
        }
    }
    let rows = config
        .strategies
        .iter()
        .map(|kind| KeyRow {
            strategy: kind.name().to_string(),
            changed: changed.remove(kind).unwrap_or_default(),
        })
        .collect();
    Ok(KeyResult {
        changes: descriptions,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortens_both_package_id_spellings() {
        assert_eq!(
            short_package_id("registry+https://github.com/rust-lang/crates.io-index#serde@1.0.228"),
            "serde@1.0.228"
        );
        assert_eq!(
            short_package_id("serde 1.0.228 (registry+https://x)"),
            "serde@1.0.228"
        );
    }

    #[test]
    fn crane_keying_is_measured_through_deps_layer() {
        assert_eq!(
            measured_strategies(&[
                StrategyKind::DepsLayer,
                StrategyKind::CraneKeying,
                StrategyKind::None
            ]),
            [StrategyKind::DepsLayer, StrategyKind::None]
        );
    }
}
