//! Member steps: the workspace members a variant's build compiles, in the order a chain of
//! derivations compiles them (what many members depend on first), each step on the previous
//! step's artifacts, so that an edit rebuilds the step of the member it touches and the steps
//! after it, never one before.
//!
//! Every step runs the variant's full cargo command, so features unify as in the real build and
//! every external unit is the layer's. A step holds the real files of its member and of those
//! before it; the members after it get stand-in targets ([`stage`]). Nix gives every source
//! file the same modification time and the store gives every stored output that time too, so
//! cargo, which judges path crates by modification time, would take a member's stand-in build
//! of an earlier step as fresh. [`invalidate`] removes cargo's record of the step's own units
//! from the target folder, so cargo compiles exactly that member again, and the members after
//! it that depend on it. The sources keep Nix's time: a time set in one step would be recorded
//! with the member's build (a build script without `rerun-if` lines is keyed by its package's
//! newest file) and differ from the stored source's in every later step, compiling the member
//! again there. The stand-ins carry the source's time too, so one compiled before stays fresh
//! unless what it depends on changed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::layer_contents::VariantUnits;
use crate::layer_settings::StepGrouping;
use crate::linked_artifacts::read_dir_sorted;
use crate::metadata::Metadata;

/// One step of a variant's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberStep {
    /// The package names of the members the step compiles (one, unless the plan groups them).
    pub members: Vec<String>,
    /// The step's own name: the member's, `<member>-bin` for the step that compiles a member's
    /// binaries after its library (a `main.rs` edit then rebuilds only that step), or
    /// `libraries` and `binaries` when grouped.
    pub name: String,
    /// The flake attribute of the step's derivation (the last step's is the variant's package);
    /// the flake leaves it out of what it gives `member-step`.
    #[serde(default)]
    pub output: String,
    /// The files the step owns, relative to the workspace root: the member's folder, or for a
    /// member at the root its targets' folders and files; for a binaries' step its binaries'
    /// files, or their folders under `src/bin`. Files no step owns belong to the first.
    pub paths: Vec<String>,
    /// The member's targets, for the stand-ins the earlier steps compile in its place.
    pub targets: Vec<StepTarget>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StepTarget {
    /// cargo's first target kind (`lib`, `bin`, `proc-macro`, `custom-build`, `test`, ...).
    pub kind: String,
    /// The target's source file, relative to the workspace root.
    pub path: String,
    /// cargo's target name (a library's crate name once `-` becomes `_`).
    pub name: String,
}

impl StepTarget {
    /// What a stand-in source holds: nothing for a library, an empty `main` for the rest.
    fn stand_in(&self) -> &'static str {
        if self.is_library() {
            ""
        } else {
            "fn main() {}\n"
        }
    }

    fn is_library(&self) -> bool {
        matches!(
            self.kind.as_str(),
            "lib" | "rlib" | "dylib" | "cdylib" | "staticlib" | "proc-macro"
        )
    }
}

/// The libraries a step may compile again, which its target folder must hold as copies, not
/// links: every member's. Its own and the later members' (as stand-ins) compile in the step;
/// an earlier member's can too, outside Nix's sandbox, where each derivation builds in a folder
/// of its own and cargo keeps a file a member reads from outside its package (a workspace
/// `languages.toml`) by the absolute path of the step that compiled it.
pub fn rebuildable(steps: &[MemberStep]) -> crate::linked_artifacts::Rebuildable {
    crate::linked_artifacts::Rebuildable {
        crates: steps
            .iter()
            .flat_map(|step| &step.targets)
            .filter(|target| target.is_library())
            .map(|target| target.name.replace('-', "_"))
            .collect(),
    }
}

/// The members the variant's build compiles (path packages under the root), ordered so that
/// each comes after every member it depends on; among those ready, the one more members depend
/// on (directly or not) first, then by name.
pub fn member_steps(
    metadata: &Metadata,
    units: &VariantUnits,
    grouping: StepGrouping,
    output_of: impl Fn(&str, bool) -> String,
) -> Vec<MemberStep> {
    let root = &metadata.workspace_root;
    let members: BTreeMap<&str, &crate::metadata::Package> = metadata
        .packages
        .iter()
        .filter(|package| package.source.is_none() && package.manifest_path.starts_with(root))
        .map(|package| (package.id.as_str(), package))
        .collect();
    let id_of: BTreeMap<usize, &str> = units
        .build
        .iter()
        .map(|classified| (classified.index, classified.unit.pkg_id.as_str()))
        .collect();
    let mut depends_on: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for classified in &units.build {
        let id = classified.unit.pkg_id.as_str();
        if !members.contains_key(id) {
            continue;
        }
        let deps = depends_on.entry(id).or_default();
        for dep in &classified.unit.dependencies {
            if let Some(dep_id) = id_of.get(&dep.index)
                && *dep_id != id
                && members.contains_key(dep_id)
            {
                deps.insert(dep_id);
            }
        }
    }
    let dependents = transitive_dependents(&depends_on);
    let mut order: Vec<&str> = Vec::new();
    let mut done: BTreeSet<&str> = BTreeSet::new();
    while order.len() < depends_on.len() {
        let ready = depends_on
            .iter()
            .filter(|(id, deps)| !done.contains(*id) && deps.iter().all(|dep| done.contains(dep)))
            .map(|(id, _)| *id)
            .max_by_key(|id| {
                (
                    dependents.get(id).copied().unwrap_or(0),
                    std::cmp::Reverse(members[id].name.as_str()),
                )
            });
        // Path crates cannot form a cycle of normal dependencies: cargo refuses one.
        let Some(next) = ready else { break };
        done.insert(next);
        order.push(next);
    }
    let mut steps: Vec<(String, &crate::metadata::Package, Part)> = Vec::new();
    for id in &order {
        let package = members[id];
        let built_bins = bins_built(units, id);
        if built_bins.is_empty() || !has_library(package) {
            steps.push((package.name.clone(), package, Part::Whole));
        } else {
            steps.push((package.name.clone(), package, Part::AllButBinaries));
            steps.push((
                format!("{}-bin", package.name),
                package,
                Part::Binaries(built_bins),
            ));
        }
    }
    // Binaries nothing depends on: the steps of every member's binaries go last, in order.
    let is_binaries = |part: &Part, package: &crate::metadata::Package| match part {
        Part::Binaries(_) => true,
        Part::Whole => !has_library(package),
        Part::AllButBinaries => false,
    };
    steps.sort_by_key(|(_, _, part)| matches!(part, Part::Binaries(_)));
    let separate: Vec<(bool, MemberStep)> = steps
        .into_iter()
        .map(|(name, package, part)| {
            let all_targets = targets(root, package);
            let (paths, targets) = match &part {
                Part::Whole => (owned_paths(root, package), all_targets),
                Part::AllButBinaries => (
                    owned_paths(root, package),
                    all_targets
                        .into_iter()
                        .filter(|target| !part_bins(package, root).contains(&target.path))
                        .collect(),
                ),
                Part::Binaries(names) => {
                    let built: Vec<&crate::metadata::Target> = package
                        .targets
                        .iter()
                        .filter(|target| {
                            target.kind.iter().any(|kind| kind == "bin")
                                && names.contains(&target.name)
                        })
                        .collect();
                    let bins: Vec<StepTarget> = built
                        .iter()
                        .filter_map(|target| {
                            Some(StepTarget {
                                kind: "bin".into(),
                                path: relative(root, &target.src_path)?,
                                name: target.name.clone(),
                            })
                        })
                        .collect();
                    let paths = built
                        .iter()
                        .filter_map(|target| binary_path(root, package, target))
                        .collect();
                    (paths, bins)
                }
            };
            let binaries = is_binaries(&part, package);
            let step = MemberStep {
                members: vec![package.name.clone()],
                output: String::new(),
                name,
                paths,
                targets,
            };
            (binaries, step)
        })
        .collect();
    let mut steps: Vec<MemberStep> = match grouping {
        StepGrouping::Each => separate.into_iter().map(|(_, step)| step).collect(),
        StepGrouping::Binaries => {
            let (binaries, libraries): (Vec<_>, Vec<_>) =
                separate.into_iter().partition(|(binaries, _)| *binaries);
            [("libraries", libraries), ("binaries", binaries)]
                .into_iter()
                .filter(|(_, group)| !group.is_empty())
                .map(|(name, group)| merged(name, group.into_iter().map(|(_, step)| step)))
                .collect()
        }
    };
    let last = steps.len().saturating_sub(1);
    for (position, step) in steps.iter_mut().enumerate() {
        step.output = output_of(&step.name, position == last);
    }
    steps
}

/// One step compiling what `steps` compile, in their order.
fn merged(name: &str, steps: impl Iterator<Item = MemberStep>) -> MemberStep {
    let mut merged = MemberStep {
        members: Vec::new(),
        name: name.to_string(),
        output: String::new(),
        paths: Vec::new(),
        targets: Vec::new(),
    };
    for step in steps {
        for member in step.members {
            if !merged.members.contains(&member) {
                merged.members.push(member);
            }
        }
        merged.paths.extend(step.paths);
        merged.targets.extend(step.targets);
    }
    merged
}

/// What of a member a step compiles.
enum Part {
    Whole,
    /// Its library and the rest, its built binaries as stand-ins.
    AllButBinaries,
    /// The binaries (by target name) the build compiles, after the library.
    Binaries(BTreeSet<String>),
}

fn has_library(package: &crate::metadata::Package) -> bool {
    package.targets.iter().any(|target| {
        target.kind.iter().any(|kind| {
            matches!(
                kind.as_str(),
                "lib" | "rlib" | "dylib" | "cdylib" | "staticlib" | "proc-macro"
            )
        })
    })
}

/// The binary targets of package `id` the build compiles.
fn bins_built(units: &VariantUnits, id: &str) -> BTreeSet<String> {
    units
        .build
        .iter()
        .map(|classified| &classified.unit)
        .filter(|unit| {
            unit.pkg_id == id
                && unit.mode == "build"
                && unit.target.kind.iter().any(|kind| kind == "bin")
        })
        .map(|unit| unit.target.name.clone())
        .collect()
}

/// The source files of a package's binary targets, relative to the root.
fn part_bins(package: &crate::metadata::Package, root: &Path) -> BTreeSet<String> {
    package
        .targets
        .iter()
        .filter(|target| target.kind.iter().any(|kind| kind == "bin"))
        .filter_map(|target| relative(root, &target.src_path))
        .collect()
}

/// For each member, how many members depend on it, directly or through others.
fn transitive_dependents<'a>(
    depends_on: &BTreeMap<&'a str, BTreeSet<&'a str>>,
) -> BTreeMap<&'a str, usize> {
    let mut counts = BTreeMap::new();
    for member in depends_on.keys() {
        let mut reached: BTreeSet<&str> = BTreeSet::new();
        let mut next = vec![*member];
        while let Some(current) = next.pop() {
            for dep in depends_on.get(current).into_iter().flatten() {
                if reached.insert(dep) {
                    next.push(dep);
                }
            }
        }
        for dep in reached {
            *counts.entry(dep).or_insert(0) += 1;
        }
    }
    counts
}

fn relative(root: &Path, path: &Path) -> Option<String> {
    let relative = path.strip_prefix(root).ok()?;
    let text = relative.to_string_lossy().into_owned();
    Some(if text.is_empty() { ".".into() } else { text })
}

/// A member's folder; for the member at the root, which holds the whole workspace, only the
/// folders of its targets' source files (`src`, `crates/core`), or the file itself when it lies
/// at the root (`build.rs`).
fn owned_paths(root: &Path, package: &crate::metadata::Package) -> Vec<String> {
    let dir = package.manifest_path.parent().unwrap_or(root);
    if dir != root {
        return relative(root, dir).into_iter().collect();
    }
    let candidates: BTreeSet<PathBuf> = package
        .targets
        .iter()
        .filter_map(|target| {
            let relative = target.src_path.strip_prefix(root).ok()?;
            let parent = relative.parent()?;
            if parent.as_os_str().is_empty() {
                Some(relative.to_path_buf())
            } else {
                Some(parent.to_path_buf())
            }
        })
        .filter(|path| path.components().all(|c| matches!(c, Component::Normal(_))))
        .collect();
    candidates
        .iter()
        .filter(|path| {
            !candidates
                .iter()
                .any(|outer| outer != *path && path.starts_with(outer))
        })
        .map(|path| path.to_string_lossy().into_owned())
        .collect()
}

/// What a binaries' step owns of one binary: the folder cargo's layout gives a binary with
/// modules of its own (`src/bin/<name>/main.rs`, its modules beside it), so an edit of any of
/// them rebuilds only that step; otherwise its file, since its folder holds the library's
/// sources too (`src/main.rs` beside `src/lib.rs`).
fn binary_path(
    root: &Path,
    package: &crate::metadata::Package,
    binary: &crate::metadata::Target,
) -> Option<String> {
    let file = &binary.src_path;
    let folder = file.parent()?;
    let bin_folder = package.manifest_path.parent()?.join("src").join("bin");
    let own_folder = file.file_name() == Some(std::ffi::OsStr::new("main.rs"))
        && folder.parent() == Some(bin_folder.as_path())
        && !package
            .targets
            .iter()
            .any(|other| other.src_path != *file && other.src_path.starts_with(folder));
    relative(root, if own_folder { folder } else { file })
}

fn targets(root: &Path, package: &crate::metadata::Package) -> Vec<StepTarget> {
    let mut targets: Vec<StepTarget> = package
        .targets
        .iter()
        .filter_map(|target| {
            Some(StepTarget {
                kind: target.kind.first()?.clone(),
                path: relative(root, &target.src_path)?,
                name: target.name.clone(),
            })
        })
        .collect();
    targets.sort();
    targets
}

/// Prepares a step in a copy of the workspace at `root` holding the real files of the steps up
/// to `index`: stand-in targets for the members after it. Refuses to write a stand-in over a
/// file that exists (the step's source would then hold a later member's files, which an edit of
/// that member must not reach).
pub fn stage(root: &Path, steps: &[MemberStep], index: usize) -> Result<Vec<PathBuf>> {
    let own = step_at(steps, index)?;
    let mut stand_ins = Vec::new();
    for step in &steps[index + 1..] {
        for target in &step.targets {
            let path = root.join(&target.path);
            if path.exists() {
                return Err(Error::Refused {
                    path,
                    reason: format!(
                        "it belongs to `{}`, a later step than `{}`, so the step's source must \
                         not hold it",
                        step.name, own.name
                    ),
                });
            }
            stand_ins.push((path, target.stand_in()));
        }
    }
    for (path, content) in &stand_ins {
        crate::output::write_file(path, content)?;
        // A stand-in never changes, so it carries the source's time: the stand-in an earlier
        // step compiled stays fresh unless what it depends on changed.
        set_modified(
            path,
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(1),
        )?;
    }
    Ok(stand_ins.into_iter().map(|(path, _)| path).collect())
}

fn step_at(steps: &[MemberStep], index: usize) -> Result<&MemberStep> {
    steps.get(index).ok_or_else(|| Error::Output {
        command: "deps-layer member-step".into(),
        message: format!("no step {index}: the chain has {} steps", steps.len()),
    })
}

/// Removes cargo's record (its `.fingerprint/<package>-<hash>` folder) of every unit of step
/// `index`'s own members from the target folder, so cargo compiles them again: all of them, or
/// for a step of binaries alone (a member's `main.rs` after its library) those binaries.
/// Returns how many units were removed.
pub fn invalidate(target: &Path, steps: &[MemberStep], index: usize) -> Result<usize> {
    let own = step_at(steps, index)?;
    let binaries_only = own.targets.iter().all(|target| target.kind == "bin");
    let binaries: BTreeSet<String> = own
        .targets
        .iter()
        .filter(|target| target.kind == "bin")
        .map(|target| format!("bin-{}", target.name))
        .collect();
    let mut removed = 0;
    for records in fingerprint_folders(target)? {
        for unit in read_dir_sorted(&records)? {
            let name = unit.file_name().to_string_lossy().into_owned();
            let Some(package) = package_of_unit_folder(&name) else {
                continue;
            };
            if !own.members.iter().any(|member| member == package) {
                continue;
            }
            let unit = unit.path();
            if binaries_only {
                let is_own_binary = read_dir_sorted(&unit)?
                    .iter()
                    .any(|file| binaries.contains(&*file.file_name().to_string_lossy()));
                if !is_own_binary {
                    continue;
                }
            }
            std::fs::remove_dir_all(&unit).map_err(|source| Error::Write {
                path: unit.clone(),
                source,
            })?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// The package of a unit's folder in `.fingerprint/`: `helix-term-0123456789abcdef` ->
/// `helix-term`.
fn package_of_unit_folder(folder: &str) -> Option<&str> {
    let (package, hash) = folder.rsplit_once('-')?;
    (hash.len() == 16 && hash.bytes().all(|byte| byte.is_ascii_hexdigit())).then_some(package)
}

/// cargo's `.fingerprint` folders in a target folder (none when it does not exist yet): one per
/// profile folder (`release/.fingerprint`, and `<triple>/release/.fingerprint` for a build with
/// --target).
fn fingerprint_folders(target: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    if !target.is_dir() {
        return Ok(found);
    }
    let mut folders = vec![(target.to_path_buf(), 0)];
    while let Some((folder, depth)) = folders.pop() {
        for entry in read_dir_sorted(&folder)? {
            let is_folder = entry.file_type().is_ok_and(|kind| kind.is_dir());
            if !is_folder {
                continue;
            }
            if entry.file_name() == ".fingerprint" {
                found.push(entry.path());
            } else if depth < 2 {
                folders.push((entry.path(), depth + 1));
            }
        }
    }
    found.sort();
    Ok(found)
}

fn set_modified(path: &Path, time: std::time::SystemTime) -> Result<()> {
    let file = std::fs::File::options()
        .write(true)
        .open(path)
        .map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })?;
    file.set_modified(time).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::{Package, Target};

    fn target(name: &str, kind: &str, path: &str) -> Target {
        Target {
            name: name.into(),
            kind: vec![kind.into()],
            crate_types: Vec::new(),
            src_path: PathBuf::from("/ws").join(path),
        }
    }

    fn package(targets: Vec<Target>) -> Package {
        Package {
            id: "tool 0.1.0 (path+file:///ws/tool)".into(),
            name: "tool".into(),
            version: "0.1.0".into(),
            source: None,
            targets,
            features: BTreeMap::new(),
            manifest_path: PathBuf::from("/ws/tool/Cargo.toml"),
        }
    }

    #[test]
    fn a_binary_owns_its_folder_under_src_bin_and_only_its_file_beside_the_library() {
        let tool = package(vec![
            target("tool", "lib", "tool/src/lib.rs"),
            target("tool", "bin", "tool/src/main.rs"),
            target("tool-cli", "bin", "tool/src/bin/tool-cli/main.rs"),
            target("single", "bin", "tool/src/bin/single.rs"),
            target("shared", "bin", "tool/src/bin/shared/main.rs"),
            target("shared-test", "test", "tool/src/bin/shared/check.rs"),
            target("elsewhere", "bin", "tool/cli/main.rs"),
        ]);
        let owned = |name: &str| {
            let binary = tool
                .targets
                .iter()
                .find(|t| t.name == name && t.kind == ["bin"])
                .unwrap();
            binary_path(Path::new("/ws"), &tool, binary)
        };
        assert_eq!(owned("tool-cli").as_deref(), Some("tool/src/bin/tool-cli"));
        assert_eq!(owned("tool").as_deref(), Some("tool/src/main.rs"));
        assert_eq!(owned("single").as_deref(), Some("tool/src/bin/single.rs"));
        // another target's source lies in that folder: it stays with the library's step
        assert_eq!(
            owned("shared").as_deref(),
            Some("tool/src/bin/shared/main.rs")
        );
        assert_eq!(owned("elsewhere").as_deref(), Some("tool/cli/main.rs"));
    }
}
