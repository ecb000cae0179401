//! The layer strategies compared. Each one prepares its layer source once, says which commands
//! build its layer into a fresh target dir, and computes its cache key for a workspace copy.

pub mod cargo_chef;
pub mod deps_layer;
pub mod dummy_crate;

use std::path::{Path, PathBuf};

use crate::error::BenchError;
use crate::keys;
use crate::process::Step;
use crate::workspace::Workspace;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StrategyKind {
    None,
    DummyCrate,
    CargoChef,
    CraneKeying,
    DepsLayer,
}

impl StrategyKind {
    pub const ALL: [StrategyKind; 5] = [
        StrategyKind::None,
        StrategyKind::DummyCrate,
        StrategyKind::CargoChef,
        StrategyKind::CraneKeying,
        StrategyKind::DepsLayer,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StrategyKind::None => "none",
            StrategyKind::DummyCrate => "dummy-crate",
            StrategyKind::CargoChef => "cargo-chef",
            StrategyKind::CraneKeying => "crane-keying",
            StrategyKind::DepsLayer => "deps-layer",
        }
    }

    pub fn parse(name: &str) -> Result<Self, BenchError> {
        StrategyKind::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| {
                let known: Vec<_> = StrategyKind::ALL.iter().map(|k| k.name()).collect();
                BenchError::Invalid(format!(
                    "unknown strategy `{name}` (known: {})",
                    known.join(", ")
                ))
            })
    }

    /// crane's keying compiles exactly what deps-layer compiles (the same generated layer fed as
    /// `dummySrc` would, keyed differently), so its build numbers are deps-layer's.
    pub fn builds_like(self) -> StrategyKind {
        match self {
            StrategyKind::CraneKeying => StrategyKind::DepsLayer,
            other => other,
        }
    }
}

/// External programs the strategies run.
#[derive(Debug, Clone)]
pub struct Tools {
    pub cargo: String,
    pub deps_layer: PathBuf,
    /// The `cargo-chef` binary, installed by `cargo install cargo-chef --locked` into a dir of
    /// its own.
    pub cargo_chef: Option<PathBuf>,
}

/// The commands crane's `buildDepsOnly` runs for a layer (lib/buildDepsOnly.nix:
/// `cargoWithProfile check --locked --all-targets`, `cargoWithProfile build --locked`,
/// `cargoWithProfile test --locked --no-run`, release profile).
pub fn crane_layer_steps(cargo: &str, dir: &Path, locked: bool, features: &[String]) -> Vec<Step> {
    let base: [&[&str]; 3] = [
        &["check", "--release", "--all-targets"],
        &["build", "--release"],
        &["test", "--release", "--no-run"],
    ];
    base.iter()
        .map(|args| {
            let mut step = Step::new(cargo, args, dir);
            if locked {
                step = step.arg("--locked");
            }
            step.args(feature_args(features))
                .arg("--message-format=json")
        })
        .collect()
}

/// The final build every strategy ends with: what the flake's package derivation runs, for the
/// variant's package selection.
pub fn final_steps(
    cargo: &str,
    workspace_root: &Path,
    selection: &[String],
    features: &[String],
) -> Vec<Step> {
    let base: [(&[&str], &[&str]); 2] = [
        (&["build", "--release", "--locked"], &[]),
        (&["test", "--release", "--locked"], &["--no-run"]),
    ];
    base.iter()
        .map(|(head, tail)| {
            Step::new(cargo, head, workspace_root)
                .args(selection.iter().cloned())
                .args(tail.iter().map(|arg| arg.to_string()))
                .args(feature_args(features))
                .arg("--message-format=json")
        })
        .collect()
}

pub fn feature_args(features: &[String]) -> Vec<String> {
    if features.is_empty() {
        Vec::new()
    } else {
        vec!["--features".into(), features.join(",")]
    }
}

/// Where a strategy keeps its prepared layer source.
pub fn layer_dir(layers_root: &Path, kind: StrategyKind) -> PathBuf {
    layers_root.join(kind.builds_like().name())
}

/// Writes the layer source of `kind` for the workspace at `ws.root` into `out`.
pub fn prepare(
    kind: StrategyKind,
    ws: &Workspace,
    tools: &Tools,
    out: &Path,
    log: &Path,
) -> Result<(), BenchError> {
    match kind.builds_like() {
        StrategyKind::None | StrategyKind::CraneKeying => Ok(()),
        StrategyKind::DummyCrate => dummy_crate::write_layer(&ws.root, out).map(|_| ()),
        StrategyKind::CargoChef => {
            cargo_chef::prepare(tools, &ws.root, &out.join(cargo_chef::RECIPE), log)
        }
        StrategyKind::DepsLayer => deps_layer::generate(tools, &ws.root, Some(out), log),
    }
}

/// The commands that build the prepared layer in `layer_src` for a variant. `scratch` is an
/// empty dir the strategy may use (cargo-chef cooks its skeleton there).
pub fn layer_steps(
    kind: StrategyKind,
    tools: &Tools,
    layer_src: &Path,
    scratch: &Path,
    variant: &str,
    features: &[String],
) -> Result<Vec<Step>, BenchError> {
    match kind.builds_like() {
        StrategyKind::None | StrategyKind::CraneKeying => Ok(Vec::new()),
        StrategyKind::DummyCrate => Ok(dummy_crate::layer_steps(&tools.cargo, layer_src)),
        StrategyKind::CargoChef => cargo_chef::cook_steps(
            tools,
            &layer_src.join(cargo_chef::RECIPE),
            scratch,
            features,
        ),
        StrategyKind::DepsLayer => deps_layer::layer_steps(&tools.cargo, layer_src, variant),
    }
}

/// The layer key of `kind` for the workspace copy at `root`; `None` for the cold build. `scratch`
/// is an empty dir for generated files.
pub fn key(
    kind: StrategyKind,
    tools: &Tools,
    root: &Path,
    scratch: &Path,
    log: &Path,
) -> Result<Option<String>, BenchError> {
    match kind {
        StrategyKind::None => Ok(None),
        StrategyKind::DummyCrate => dummy_crate::key(root, scratch).map(Some),
        StrategyKind::CargoChef => {
            let recipe = scratch.join(cargo_chef::RECIPE);
            cargo_chef::prepare(tools, root, &recipe, log)?;
            keys::files_key(scratch, &[recipe]).map(Some)
        }
        StrategyKind::CraneKeying => keys::crane_key(root).map(Some),
        StrategyKind::DepsLayer => deps_layer::key(tools, root, scratch, log).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategy_names_round_trip_and_unknown_names_are_rejected() {
        for kind in StrategyKind::ALL {
            assert_eq!(StrategyKind::parse(kind.name()).unwrap(), kind);
        }
        let err = StrategyKind::parse("sccache").unwrap_err().to_string();
        assert!(
            err.contains("sccache") && err.contains("deps-layer"),
            "{err}"
        );
    }

    #[test]
    fn layer_commands_are_cranes_three_with_the_variant_features() {
        let steps = crane_layer_steps("cargo", Path::new("/l"), true, &["cuda".into()]);
        let lines: Vec<String> = steps.iter().map(|s| s.display()).collect();
        assert_eq!(
            lines,
            [
                "cargo check --release --all-targets --locked --features cuda --message-format=json",
                "cargo build --release --locked --features cuda --message-format=json",
                "cargo test --release --no-run --locked --features cuda --message-format=json",
            ]
        );
    }
}
