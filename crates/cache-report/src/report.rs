//! The report: per group, what Nix would build, what it would fetch and at what size, and
//! for each output asked for (dependency layers among them) whether the cache has it.

use std::collections::BTreeSet;

use serde::Serialize;

use deps_layer::layer_report::LayerReport;

use crate::derived::Derived;
use crate::dry_run::DryRunPlan;
use crate::error::{Error, ParseError};
use crate::nix::Nix;
use crate::plan::{Group, Member};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputStatus {
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

impl OutputStatus {
    pub fn is_hit(self) -> bool {
        matches!(self, Self::Present | Self::Fetched)
    }
}

/// One installable of the group and what getting it takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Output {
    pub name: String,
    pub installable: String,
    /// A dependency layer (`deps-common`, `deps-<v>`, or `--layer`).
    pub layer: bool,
    pub drv_path: Option<String>,
    pub out_paths: Vec<String>,
    pub status: OutputStatus,
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
    pub outputs: Vec<Output>,
    /// `.drv` paths that would be built, in the order Nix printed them.
    pub built: Vec<String>,
    pub fetched: Vec<FetchedPath>,
    pub unknown: Vec<String>,
    /// Totals as `nix build --dry-run` printed them (rounded to its precision).
    pub download_bytes: Option<u64>,
    pub unpacked_bytes: Option<u64>,
    /// What the package's last build reported about its layer, where the package is in the
    /// local store or the cache already (a package still to build has none yet).
    pub layer_report: Option<LastLayerReport>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastLayerReport {
    /// `local store`, or the cache's URL.
    pub from: String,
    pub report: LayerReport,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub system: Option<String>,
    pub cache: Option<String>,
    pub groups: Vec<GroupReport>,
}

pub fn output_status(
    plan: &DryRunPlan,
    derived: &Derived,
    untrusted: &BTreeSet<String>,
) -> OutputStatus {
    let listed = |list: &[String]| derived.out_paths.iter().any(|out| list.contains(out));
    if derived
        .drv_path
        .as_ref()
        .is_some_and(|drv| plan.will_build.contains(drv))
    {
        OutputStatus::Built
    } else if derived.out_paths.iter().any(|out| untrusted.contains(out)) {
        OutputStatus::Untrusted
    } else if listed(&plan.will_fetch) {
        OutputStatus::Fetched
    } else if listed(&plan.unknown) {
        OutputStatus::Unknown
    } else {
        OutputStatus::Present
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
    let outputs: Vec<Output> = group
        .members
        .iter()
        .zip(&derived)
        .map(|(member, derived): (&Member, &Derived)| Output {
            name: member.label.clone(),
            installable: member.installable.clone(),
            layer: member.is_layer,
            drv_path: derived.drv_path.clone(),
            out_paths: derived.out_paths.clone(),
            status: output_status(&plan, derived, &untrusted),
        })
        .collect();
    let package = group
        .members
        .iter()
        .zip(&outputs)
        .find(|(member, _)| member.reports_layer)
        .map(|(_, output)| output);
    let layer_report = match package {
        Some(package) => last_layer_report(nix, package, cache)?,
        None => None,
    };
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
        outputs,
        built: plan.will_build,
        fetched,
        unknown: plan.unknown,
        download_bytes: plan.download_bytes,
        unpacked_bytes: plan.unpacked_bytes,
        layer_report,
    })
}

/// The layer report in the package's output, read where the package already is.
fn last_layer_report(
    nix: &Nix,
    package: &Output,
    cache: Option<&str>,
) -> Result<Option<LastLayerReport>, Error> {
    let from = match package.status {
        OutputStatus::Present => None,
        OutputStatus::Fetched if cache.is_some() => cache,
        _ => return Ok(None),
    };
    let Some(out) = package.out_paths.first() else {
        return Ok(None);
    };
    let file = format!("{out}/nix-support/layer-report.json");
    let Some(text) = nix.store_file(from, &file)? else {
        return Ok(None);
    };
    let report = serde_json::from_str(&text).map_err(|error| ParseError::Json {
        command: format!("nix store cat {file}"),
        reason: error.to_string(),
    })?;
    Ok(Some(LastLayerReport {
        from: from.unwrap_or("local store").to_string(),
        report,
    }))
}

impl GroupReport {
    pub fn layers(&self) -> impl Iterator<Item = &Output> {
        self.outputs.iter().filter(|output| output.layer)
    }

    /// Outputs the cache cannot serve: Nix would build them.
    pub fn missing(&self) -> impl Iterator<Item = &Output> {
        self.outputs.iter().filter(|output| !output.status.is_hit())
    }

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
