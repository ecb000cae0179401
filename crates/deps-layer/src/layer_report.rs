//! Whether a build on a layer hit it: every external unit of the build's cargo JSON messages
//! should be fresh (the layer compiled it); one cargo compiled is a miss, and the build took as
//! long as if the layer had not been there for it. Written by every package derivation
//! (`$out/nix-support/layer-report.json`) and checked by the flake's `layer-<variant>` check.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::build_log::{self, Artifact};
use crate::error::{Error, Result};

/// What one build compiled, against the layer it started from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerReport {
    /// The layer's flake output (`deps-cuda`).
    pub layer: String,
    /// External units (registry and git packages) the build needed.
    pub external_units: usize,
    /// Of those, the ones cargo compiled: the misses.
    pub misses: Vec<Miss>,
    /// Units of the workspace's own packages cargo compiled (the build's real work).
    pub workspace_units: usize,
}

/// An external unit the build compiled although it builds on the layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Miss {
    /// `name@version`.
    pub package: String,
    pub package_id: String,
    /// cargo's target kinds (`lib`, `proc-macro`, `custom-build`).
    pub kind: Vec<String>,
    /// Built for the build host (a build script or proc-macro), not for the target.
    pub host: bool,
    pub features: Vec<String>,
    pub opt_level: String,
}

/// Whose builds a report is of, for the fix a miss prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builds<'a> {
    /// A variant's package or checks (unnamed where a variant without features builds the very
    /// package cpu does).
    Variant(Option<&'a str>),
    /// The opt-in checks over every member, on their own layer.
    EveryMember,
}

impl LayerReport {
    /// The report of cargo's JSON messages in `logs` (several commands' output, in order): a unit
    /// counts once, compiled if any command compiled it.
    pub fn of_logs(layer: &str, logs: &[PathBuf]) -> Result<LayerReport> {
        let mut artifacts = Vec::new();
        for log in logs {
            let bytes = std::fs::read(log).map_err(|source| Error::Read {
                path: log.clone(),
                source,
            })?;
            artifacts.extend(build_log::artifacts(&bytes));
        }
        Ok(LayerReport::of_artifacts(layer, &artifacts))
    }

    pub fn of_artifacts(layer: &str, artifacts: &[Artifact]) -> LayerReport {
        let mut seen = std::collections::BTreeMap::new();
        for artifact in artifacts {
            let fresh = seen.entry(artifact.unit_key()).or_insert((artifact, true));
            fresh.1 &= artifact.fresh;
        }
        let mut report = LayerReport {
            layer: layer.to_string(),
            external_units: 0,
            misses: Vec::new(),
            workspace_units: 0,
        };
        for (artifact, fresh) in seen.into_values() {
            match (artifact.is_external(), fresh) {
                (true, true) => report.external_units += 1,
                (true, false) => {
                    report.external_units += 1;
                    report.misses.push(Miss::of(artifact));
                }
                (false, false) => report.workspace_units += 1,
                (false, true) => {}
            }
        }
        report
    }

    pub fn read(path: &Path) -> Result<LayerReport> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|error| Error::Parse {
            path: path.to_path_buf(),
            message: error.to_string(),
        })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// The one line a build prints: `layer deps-cuda: 0 of 812 external units compiled, 14
    /// workspace units`.
    pub fn summary(&self) -> String {
        format!(
            "layer {}: {} of {} external units compiled, {} workspace units",
            self.layer,
            self.misses.len(),
            self.external_units,
            self.workspace_units
        )
    }

    /// Each miss and what to do about it, for the builds the report is of; empty when there
    /// is none.
    pub fn explain(&self, builds: Builds) -> String {
        if self.misses.is_empty() {
            return String::new();
        }
        let mut text = String::new();
        for miss in &self.misses {
            let side = if miss.host { "host" } else { "target" };
            text.push_str(&format!(
                "  compiled again: {} ({}, {side}, opt-level {}, features [{}])\n",
                miss.package,
                miss.kind.join(","),
                miss.opt_level,
                miss.features.join(", ")
            ));
        }
        let stale = "Either the committed layer is stale (run `deps-layer generate` in the \
                     workspace and commit its folder; `deps-layer check` in CI catches this)";
        let cause = match builds {
            // The plan renders that layer from the very `--workspace` builds the checks run,
            // so only a stale layer (or a hand edit) explains a miss.
            Builds::EveryMember => format!(
                "{stale}, or it was edited by hand. `deps-layer verify --variant workspace` \
                 compares each unit with the layer's."
            ),
            Builds::Variant(variant) => {
                let (entry, verify) = match variant {
                    Some(variant) => (
                        format!("the variant `{variant}`"),
                        format!(
                            "deps-layer verify --variant {}",
                            crate::shell::word(variant)
                        ),
                    ),
                    None => ("its variant".to_string(), "deps-layer verify".to_string()),
                };
                format!(
                    "{stale}, or the build selects packages or features its variant does not \
                     name (add them to {entry} in the root Cargo.toml's \
                     [workspace.metadata.variants], then generate). `{verify}` compares each \
                     unit with the layer's."
                )
            }
        };
        text.push_str(&format!(
            "  The layer {layer} does not hold these units as this build needs them, so every \
             build of it compiles them again. {cause}\n",
            layer = self.layer
        ));
        text
    }
}

impl Miss {
    fn of(artifact: &Artifact) -> Miss {
        let kind = artifact.target.kind.clone();
        Miss {
            package: build_log::package_name(&artifact.package_id),
            package_id: artifact.package_id.clone(),
            host: kind
                .iter()
                .any(|kind| kind == "proc-macro" || kind == "custom-build"),
            kind,
            features: artifact.features.clone(),
            opt_level: artifact.profile.opt_level.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(package_id: &str, kind: &str, file: &str, fresh: bool) -> Artifact {
        serde_json::from_value(serde_json::json!({
            "package_id": package_id,
            "target": {"name": "t", "kind": [kind]},
            "profile": {"opt_level": "3", "test": false},
            "features": ["std"],
            "filenames": [file],
            "fresh": fresh,
        }))
        .unwrap()
    }

    const SERDE: &str = "registry+https://github.com/rust-lang/crates.io-index#serde@1.0.228";
    const MEMBER: &str = "path+file:///w/crates/server#0.1.0";

    #[test]
    fn a_unit_compiled_by_any_command_is_a_miss_once() {
        let report = LayerReport::of_artifacts(
            "deps-x",
            &[
                artifact(SERDE, "lib", "/t/libserde-1.rlib", true),
                artifact(SERDE, "custom-build", "/t/build-script-build-2", false),
                // the same unit again, fresh in a later command
                artifact(SERDE, "custom-build", "/t/build-script-build-2", true),
                artifact(MEMBER, "bin", "/t/server", false),
                artifact(MEMBER, "lib", "/t/libserver.rlib", true),
            ],
        );
        assert_eq!(report.external_units, 2);
        assert_eq!(report.workspace_units, 1);
        assert_eq!(report.misses.len(), 1);
        assert_eq!(report.misses[0].package, "serde@1.0.228");
        assert!(report.misses[0].host);
        assert_eq!(
            report.summary(),
            "layer deps-x: 1 of 2 external units compiled, 1 workspace units"
        );
        let explained = report.explain(Builds::Variant(Some("cuda")));
        assert!(
            explained.contains("compiled again: serde@1.0.228 (custom-build, host"),
            "{explained}"
        );
        assert!(explained.contains("deps-layer generate"), "{explained}");
        assert!(explained.contains("variant `cuda`"), "{explained}");
        let unnamed = report.explain(Builds::Variant(None));
        assert!(unnamed.contains("add them to its variant"), "{unnamed}");
        // every member's checks: their layer comes from their own builds, so only regenerating
        // applies, and verify names them
        let every = report.explain(Builds::EveryMember);
        assert!(every.contains("deps-layer generate"), "{every}");
        assert!(every.contains("--variant workspace"), "{every}");
        assert!(!every.contains("[workspace.metadata.variants]"), "{every}");
    }

    #[test]
    fn a_report_round_trips_through_its_json() {
        let report = LayerReport::of_artifacts(
            "deps-common",
            &[artifact(SERDE, "lib", "/t/libserde-1.rlib", false)],
        );
        let parsed: LayerReport = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(parsed, report);
        assert_eq!(
            LayerReport::of_artifacts("l", &[]).explain(Builds::Variant(Some("v"))),
            ""
        );
    }
}
