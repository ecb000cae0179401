//! The report: per group, what Nix would build, what it would fetch and at what size, and
//! whether each dependency layer is a cache hit.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::derived::Derived;
use crate::dry_run::DryRunPlan;
use crate::error::{Error, ParseError};
use crate::nix::Nix;
use crate::plan::{Group, Member};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LayerStatus {
    /// Already in the local store: nothing to do.
    Present,
    /// A substituter has it: a cache hit.
    Fetched,
    /// Its derivation would be built: a cache miss.
    Built,
    /// A substituter has it, but not signed by a trusted key: Nix refuses it and builds it.
    Untrusted,
    /// Nix knows no way to get it.
    Unknown,
}

impl LayerStatus {
    pub fn is_hit(self) -> bool {
        matches!(self, Self::Present | Self::Fetched)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Layer {
    pub name: String,
    pub installable: String,
    pub drv_path: Option<String>,
    pub out_paths: Vec<String>,
    pub status: LayerStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FetchedPath {
    pub path: String,
    /// From the `--cache` store, when it has the path.
    pub download_bytes: Option<u64>,
    pub nar_bytes: Option<u64>,
    /// Whether the `--cache` store's copy is signed by a trusted key; `None` when not checked.
    pub trusted: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupReport {
    pub name: String,
    pub installables: Vec<String>,
    pub layers: Vec<Layer>,
    /// `.drv` paths that would be built, in the order Nix printed them.
    pub built: Vec<String>,
    pub fetched: Vec<FetchedPath>,
    pub unknown: Vec<String>,
    /// Totals as `nix build --dry-run` printed them (rounded to its precision).
    pub download_bytes: Option<u64>,
    pub unpacked_bytes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub system: Option<String>,
    pub cache: Option<String>,
    pub groups: Vec<GroupReport>,
}

pub fn layer_status(
    plan: &DryRunPlan,
    derived: &Derived,
    untrusted: &BTreeSet<String>,
) -> LayerStatus {
    let listed = |list: &[String]| derived.out_paths.iter().any(|out| list.contains(out));
    if derived
        .drv_path
        .as_ref()
        .is_some_and(|drv| plan.will_build.contains(drv))
    {
        LayerStatus::Built
    } else if derived.out_paths.iter().any(|out| untrusted.contains(out)) {
        LayerStatus::Untrusted
    } else if listed(&plan.will_fetch) {
        LayerStatus::Fetched
    } else if listed(&plan.unknown) {
        LayerStatus::Unknown
    } else {
        LayerStatus::Present
    }
}

/// Runs one dry run for the group's installables and, with `cache`, asks that binary cache
/// for the size of each path to be fetched and whether its signature is trusted.
pub fn report_group(nix: &Nix, group: &Group, cache: Option<&str>) -> Result<GroupReport, Error> {
    let installables: Vec<String> = group
        .members
        .iter()
        .map(|member| member.installable.clone())
        .collect();
    let (plan, derived) = nix.dry_run(&installables)?;
    if derived.len() != installables.len() {
        return Err(ParseError::Json {
            command: "nix build --dry-run --json".to_string(),
            reason: format!(
                "{} entries for {} installables",
                derived.len(),
                installables.len()
            ),
        }
        .into());
    }
    let (sizes, untrusted) = match cache {
        Some(url) => {
            let sizes = nix.path_sizes(url, &plan.will_fetch)?;
            let in_cache: Vec<String> = sizes.keys().cloned().collect();
            let untrusted = nix.untrusted_paths(url, &in_cache)?;
            (sizes, untrusted)
        }
        None => Default::default(),
    };
    let layers = group
        .members
        .iter()
        .zip(&derived)
        .filter(|(member, _)| member.is_layer)
        .map(|(member, derived): (&Member, &Derived)| Layer {
            name: member.label.clone(),
            installable: member.installable.clone(),
            drv_path: derived.drv_path.clone(),
            out_paths: derived.out_paths.clone(),
            status: layer_status(&plan, derived, &untrusted),
        })
        .collect();
    let fetched = plan
        .will_fetch
        .iter()
        .map(|path| {
            let size = sizes.get(path);
            FetchedPath {
                path: path.clone(),
                download_bytes: size.and_then(|size| size.download_bytes),
                nar_bytes: size.and_then(|size| size.nar_bytes),
                trusted: size.map(|_| !untrusted.contains(path)),
            }
        })
        .collect();
    Ok(GroupReport {
        name: group.name.clone(),
        installables,
        layers,
        built: plan.will_build,
        fetched,
        unknown: plan.unknown,
        download_bytes: plan.download_bytes,
        unpacked_bytes: plan.unpacked_bytes,
    })
}

impl GroupReport {
    /// The exact download total when the cache gave every size, else Nix's rounded total.
    pub fn download_total(&self) -> Option<u64> {
        self.fetched
            .iter()
            .map(|path| path.download_bytes)
            .sum::<Option<u64>>()
            .filter(|_| !self.fetched.is_empty())
            .or(self.download_bytes)
    }

    pub fn unpacked_total(&self) -> Option<u64> {
        self.fetched
            .iter()
            .map(|path| path.nar_bytes)
            .sum::<Option<u64>>()
            .filter(|_| !self.fetched.is_empty())
            .or(self.unpacked_bytes)
    }
}
