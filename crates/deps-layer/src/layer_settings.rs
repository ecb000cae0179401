//! The workspace's layer settings: `[workspace.metadata.deps-layer]` in the root manifest.

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

/// The layer, and the flake's checks, over the whole workspace (`--workspace`, no features): its
/// name in the plan (a layer and a variant cannot share it).
pub const WORKSPACE_LAYER: &str = "workspace";

/// Unknown keys are errors, so a typo cannot silently turn a setting off.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LayerSettings {
    /// Lint and test every member (tools, members no variant ships), not only what the variants
    /// build: the plan then holds a layer of its own for `--workspace`, stacked on the common
    /// one, so those checks too compile no external crate. Off by default: a member no variant
    /// ships may need an interpreter or SDK at build time (pyo3 and the like).
    #[serde(default)]
    pub workspace_checks: bool,
    /// How the flake's chain of member steps groups the members: one step each (`each`), or
    /// two steps, every library then every binary (`binaries`), for a workspace whose pushes
    /// often touch its lower members (fewer steps to run one after the other).
    #[serde(default)]
    pub member_steps: StepGrouping,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepGrouping {
    #[default]
    Each,
    Binaries,
}

pub fn read(manifest_path: &Path, manifest: &toml::Table) -> Result<LayerSettings> {
    let Some(table) = manifest
        .get("workspace")
        .and_then(|workspace| workspace.get("metadata"))
        .and_then(|metadata| metadata.get("deps-layer"))
    else {
        return Ok(LayerSettings::default());
    };
    table
        .clone()
        .try_into()
        .map_err(|err: toml::de::Error| Error::BadSettings {
            manifest: manifest_path.to_path_buf(),
            message: format!(
                "{}; the table accepts `workspace-checks = true` (lint and test every member, on \
                 a layer of its own) and `member-steps = \"each\"` or `\"binaries\"` (the \
                 flake's chain: one step per member, or libraries then binaries)",
                err.message().trim()
            ),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(text: &str) -> Result<LayerSettings> {
        read(Path::new("Cargo.toml"), &text.parse().unwrap())
    }

    #[test]
    fn absent_means_off_and_typos_are_refused() {
        assert_eq!(settings("[workspace]\n").unwrap(), LayerSettings::default());
        assert!(
            settings("[workspace.metadata.deps-layer]\nworkspace-checks = true\n")
                .unwrap()
                .workspace_checks
        );
        let typo = settings("[workspace.metadata.deps-layer]\nworkspace-check = true\n")
            .unwrap_err()
            .to_string();
        assert!(typo.contains("workspace-check"), "{typo}");
        assert!(typo.contains("[workspace.metadata.deps-layer]"), "{typo}");
        let wrong_type = settings("[workspace.metadata.deps-layer]\nworkspace-checks = \"yes\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            wrong_type.contains("workspace-checks = true"),
            "{wrong_type}"
        );
        assert_eq!(
            settings("[workspace.metadata.deps-layer]\nmember-steps = \"binaries\"\n")
                .unwrap()
                .member_steps,
            StepGrouping::Binaries
        );
        let unknown = settings("[workspace.metadata.deps-layer]\nmember-steps = \"all\"\n")
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("binaries"), "{unknown}");
    }
}
