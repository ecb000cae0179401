//! `generate`: workspace → layer files, written atomically.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::cargo::Cargo;
use crate::error::{Error, Result};
use crate::layer_contents::{LayerContents, VariantUnits};
use crate::layer_crate::LayerCrate;
use crate::layer_settings::{self, LayerSettings, WORKSPACE_LAYER};
use crate::lock::{LockFile, LockKey};
use crate::manifest::{self, Carried, Scope};
use crate::metadata::Metadata;
use crate::output::{Earlier, Marker, Protected};
use crate::plan_file::PlanFile;
use crate::unit_graph::{Mode, UnitGraph};
use crate::variants::{self, Variants};

/// The default output folder, relative to the workspace root.
pub const DEFAULT_OUT: &str = "nix/deps";

#[derive(Debug, Clone)]
pub struct Options {
    /// Any manifest of the workspace (its root is found through `cargo metadata`).
    pub manifest_path: PathBuf,
    /// How the real build selects packages: `--workspace` unless the user builds a subset
    /// (`--package p`, `--bin b`; empty for the default members).
    pub selection: Vec<String>,
    pub cargo: Cargo,
}

impl Options {
    pub fn new(manifest_path: PathBuf) -> Options {
        Options {
            manifest_path,
            selection: vec!["--workspace".into()],
            cargo: Cargo::default(),
        }
    }
}

/// The workspace as the layer sees it.
#[derive(Debug)]
pub struct Workspace {
    pub root: PathBuf,
    pub root_manifest: PathBuf,
    pub variants: Variants,
    pub settings: LayerSettings,
    pub local: BTreeSet<String>,
    pub metadata: Metadata,
}

/// A generated layer: relative path → content, the lock included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub files: BTreeMap<String, String>,
}

pub fn load_workspace(options: &Options) -> Result<Workspace> {
    let manifest_path = &std::path::absolute(&options.manifest_path)
        .unwrap_or_else(|_| options.manifest_path.clone());
    std::fs::read_to_string(manifest_path).map_err(|source| Error::Read {
        path: manifest_path.to_path_buf(),
        source,
    })?;
    // Without a lock, `cargo metadata --locked` would call it out of date; say what is wrong.
    if let Some(root) = workspace_root(&options.cargo, manifest_path) {
        let lock = root.join("Cargo.lock");
        if !lock.exists() {
            return Err(Error::LockMissing { lock, root });
        }
    }
    // A git source without a locked revision is refused before cargo would re-resolve it.
    let lock_path = crate::cargo::manifest_dir(manifest_path)
        .ancestors()
        .map(|dir| dir.join("Cargo.lock"))
        .find(|path| path.exists());
    if let Some(lock_path) = lock_path {
        LockFile::read(&lock_path)?.check_git_revisions(&lock_path)?;
    }
    let metadata = Metadata::load(&options.cargo, manifest_path)?;
    let root = metadata.workspace_root.clone();
    let root_manifest = root.join("Cargo.toml");
    let manifest = read_toml(&root_manifest)?;
    let variants = variants::read(&root_manifest, &manifest)?;
    variants::validate(&root_manifest, &variants, &metadata)?;
    let settings = layer_settings::read(&root_manifest, &manifest)?;
    if settings.workspace_checks && variants.contains_key(WORKSPACE_LAYER) {
        return Err(Error::BadSettings {
            manifest: root_manifest,
            message: format!(
                "`workspace-checks = true` gives the checks over every member the layer \
                 `{WORKSPACE_LAYER}`, and a variant has that name: rename the variant"
            ),
        });
    }
    let local = metadata.local_packages();
    Ok(Workspace {
        root,
        root_manifest,
        variants,
        settings,
        local,
        metadata,
    })
}

/// The workspace root as cargo finds it, which needs no lock; None when cargo cannot tell (the
/// metadata call that follows reports why).
fn workspace_root(cargo: &Cargo, manifest_path: &Path) -> Option<PathBuf> {
    let manifest = manifest_path.to_string_lossy();
    let args = [
        "locate-project",
        "--workspace",
        "--message-format",
        "plain",
        "--manifest-path",
        &manifest,
    ];
    let output = cargo
        .run(&crate::cargo::manifest_dir(manifest_path), &args)
        .ok()?;
    let root_manifest = PathBuf::from(String::from_utf8(output.stdout).ok()?.trim_end());
    root_manifest.parent().map(Path::to_path_buf)
}

pub fn read_toml(path: &Path) -> Result<toml::Table> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    text.parse().map_err(|err: toml::de::Error| Error::Parse {
        path: path.to_path_buf(),
        message: err.message().to_string(),
    })
}

/// The units of every variant, for its real build's selection.
pub fn variant_units(
    options: &Options,
    workspace: &Workspace,
) -> Result<BTreeMap<String, VariantUnits>> {
    let offline = Cargo {
        offline: true,
        ..options.cargo.clone()
    };
    let mut units = BTreeMap::new();
    for (variant, entry) in &workspace.variants {
        let selection = entry.selection(&options.selection);
        units.insert(
            variant.clone(),
            units_of(&offline, &workspace.root, &selection, &entry.features)?,
        );
    }
    Ok(units)
}

/// The units of the checks over every member: `--workspace`, no features.
pub fn workspace_check_units(options: &Options, workspace: &Workspace) -> Result<VariantUnits> {
    let offline = Cargo {
        offline: true,
        ..options.cargo.clone()
    };
    units_of(&offline, &workspace.root, &["--workspace".into()], &[])
}

fn units_of(
    cargo: &Cargo,
    root: &Path,
    selection: &[String],
    features: &[String],
) -> Result<VariantUnits> {
    let load = |mode| {
        UnitGraph::load(cargo, root, mode, selection, features).map(|graph| graph.classify())
    };
    Ok(VariantUnits {
        build: load(Mode::Build)?,
        test: load(Mode::Test)?,
    })
}

/// `[profile]`, `[patch]` and `[replace]` of the root manifest, minus what names local crates.
fn carried_tables(manifest: &toml::Table, local_names: &BTreeSet<String>) -> String {
    let mut carried = toml::Table::new();
    if let Some(toml::Value::Table(profiles)) = manifest.get("profile") {
        let mut profiles = profiles.clone();
        for (_, profile) in profiles.iter_mut() {
            if let Some(toml::Value::Table(packages)) = profile
                .as_table_mut()
                .and_then(|profile| profile.get_mut("package"))
            {
                packages.retain(|name, _| !local_names.contains(name));
            }
        }
        carried.insert("profile".into(), toml::Value::Table(profiles));
    }
    let is_local = |value: &toml::Value| value.get("path").is_some();
    if let Some(toml::Value::Table(patches)) = manifest.get("patch") {
        let mut patches = patches.clone();
        for (_, source) in patches.iter_mut() {
            if let Some(entries) = source.as_table_mut() {
                entries.retain(|_, entry| !is_local(entry));
            }
        }
        patches.retain(|_, source| source.as_table().is_some_and(|entries| !entries.is_empty()));
        if !patches.is_empty() {
            carried.insert("patch".into(), toml::Value::Table(patches));
        }
    }
    if let Some(toml::Value::Table(replace)) = manifest.get("replace") {
        let mut replace = replace.clone();
        replace.retain(|_, entry| !is_local(entry));
        if !replace.is_empty() {
            carried.insert("replace".into(), toml::Value::Table(replace));
        }
    }
    if carried.is_empty() {
        return String::new();
    }
    toml::to_string(&carried).unwrap_or_default()
}

/// The workspace's cargo configuration file, if it has one.
fn cargo_config_path(root: &Path) -> Option<PathBuf> {
    ["config.toml", "config"]
        .iter()
        .map(|name| root.join(".cargo").join(name))
        .find(|path| path.is_file())
}

/// The settings of the workspace's `.cargo/config.toml` that change how units compile (flags,
/// target, profiles, environment), for the layer's own `.cargo/config.toml`, without
/// `target-cpu=native` (see [`strip_native_cpu`]).
fn cargo_config(root: &Path) -> Result<Option<String>> {
    let Some(path) = cargo_config_path(root) else {
        return Ok(None);
    };
    let config = read_toml(&path)?;
    let mut kept = toml::Table::new();
    if let Some(toml::Value::Table(build)) = config.get("build") {
        let build: toml::Table = build
            .iter()
            .filter(|(key, _)| matches!(key.as_str(), "rustflags" | "rustdocflags" | "target"))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        if !build.is_empty() {
            kept.insert("build".into(), toml::Value::Table(build));
        }
    }
    for table in ["target", "profile", "env"] {
        if let Some(value) = config.get(table) {
            kept.insert(table.into(), value.clone());
        }
    }
    strip_native_cpu(&mut kept);
    if kept.is_empty() {
        return Ok(None);
    }
    Ok(Some(toml::to_string(&kept).unwrap_or_default()))
}

/// The warning `generate` prints when the workspace's cargo configuration asks for
/// `target-cpu=native`, which the layer leaves out; None when it does not.
pub fn native_cpu_warning(root: &Path) -> Result<Option<String>> {
    let Some(path) = cargo_config_path(root) else {
        return Ok(None);
    };
    let mut config = read_toml(&path)?;
    if !strip_native_cpu(&mut config) {
        return Ok(None);
    }
    Ok(Some(format!(
        "warning: {} sets target-cpu=native, which the layer leaves out of its rustflags (a Nix \
         build's output must not depend on the builder's CPU): the layer builds for the default \
         CPU, so the real build must not use target-cpu=native either, or it misses the layer and \
         compiles every dependency again",
        path.display()
    )))
}

/// Removes `target-cpu=native` from every rustflags list of a cargo configuration (`[build]`,
/// `[target.<triple or cfg>]`, `[profile.<name>]`), keeping the other flags in order: with it,
/// a build's output depends on the CPU of the machine that ran it. Returns whether any was found.
pub fn strip_native_cpu(config: &mut toml::Table) -> bool {
    let mut found = false;
    let mut strip = |table: &mut toml::Table| {
        for key in ["rustflags", "rustdocflags"] {
            if let Some(flags) = table.get_mut(key) {
                found |= strip_native_cpu_flags(flags);
            }
        }
    };
    if let Some(toml::Value::Table(build)) = config.get_mut("build") {
        strip(build);
    }
    for section in ["target", "profile"] {
        if let Some(toml::Value::Table(entries)) = config.get_mut(section) {
            for (_, entry) in entries.iter_mut() {
                if let toml::Value::Table(entry) = entry {
                    strip(entry);
                }
            }
        }
    }
    found
}

/// One rustflags value, a list of arguments or a string of them separated by spaces.
fn strip_native_cpu_flags(flags: &mut toml::Value) -> bool {
    match flags {
        toml::Value::String(line) => {
            let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
            let (kept, found) = without_native_cpu(&words);
            if found {
                *line = kept.join(" ");
            }
            found
        }
        toml::Value::Array(items) => {
            let Some(words) = items
                .iter()
                .map(|item| item.as_str().map(str::to_string))
                .collect::<Option<Vec<String>>>()
            else {
                return false;
            };
            let (kept, found) = without_native_cpu(&words);
            if found {
                *items = kept.into_iter().map(toml::Value::String).collect();
            }
            found
        }
        _ => false,
    }
}

/// The arguments without `-C target-cpu=native` in any of its spellings: the pair `-C`,
/// `target-cpu=native` (or `--codegen`), and the joined `-Ctarget-cpu=native`,
/// `--codegen=target-cpu=native`, `-C target-cpu=native`.
pub fn without_native_cpu(args: &[String]) -> (Vec<String>, bool) {
    let is_native = |value: &str| value.trim() == "target-cpu=native";
    let is_codegen = |arg: &str| matches!(arg.trim(), "-C" | "--codegen");
    let mut kept = Vec::with_capacity(args.len());
    let mut found = false;
    let mut index = 0;
    while index < args.len() {
        let arg = args[index].trim();
        let joined = ["-C", "--codegen=", "--codegen "]
            .iter()
            .any(|prefix| arg.strip_prefix(prefix).is_some_and(is_native));
        if joined {
            found = true;
            index += 1;
        } else if is_codegen(arg) && args.get(index + 1).is_some_and(|next| is_native(next)) {
            found = true;
            index += 2;
        } else {
            kept.push(args[index].clone());
            index += 1;
        }
    }
    (kept, found)
}

fn resolver(manifest: &toml::Table) -> String {
    let explicit = manifest
        .get("workspace")
        .and_then(|workspace| workspace.get("resolver"))
        .or_else(|| {
            manifest
                .get("package")
                .and_then(|package| package.get("resolver"))
        })
        .and_then(toml::Value::as_str);
    if let Some(resolver) = explicit {
        return resolver.to_string();
    }
    let edition = manifest
        .get("package")
        .and_then(|package| package.get("edition"))
        .and_then(toml::Value::as_str);
    match edition {
        Some("2024") => "3",
        Some("2021") => "2",
        _ => "1",
    }
    .to_string()
}

/// The command that regenerates the layer, written into its header.
pub fn regenerate_command(out_from_root: &str, selection: &[String]) -> String {
    let mut command = format!(
        "deps-layer generate --out {}",
        crate::shell::word(out_from_root)
    );
    if selection.is_empty() {
        command.push_str(" --default-members");
    }
    if selection != ["--workspace"] {
        for arg in selection {
            command.push(' ');
            command.push_str(&crate::shell::word(arg));
        }
    }
    command
}

/// Computes the layer in memory (cargo completes the lock in a scratch folder).
pub fn generate(options: &Options, out_from_root: &str) -> Result<(Layer, Workspace)> {
    let workspace = load_workspace(options)?;
    let layer = generate_for(options, &workspace, out_from_root)?;
    Ok((layer, workspace))
}

/// [`generate`] for a workspace already loaded (its `cargo metadata` is not run again): what
/// every variant compiles, the layer crate that compiles the external part of it, each layer's
/// slice of that crate, and the plan the flake reads.
pub fn generate_for(
    options: &Options,
    workspace: &Workspace,
    out_from_root: &str,
) -> Result<Layer> {
    let lock_path = workspace.root.join("Cargo.lock");
    let lock = LockFile::read(&lock_path)?;
    lock.check_git_revisions(&lock_path)?;
    let units = variant_units(options, workspace)?;
    let members = Members::of(workspace);
    let manifest = read_toml(&workspace.root_manifest)?;
    let layer_crate = LayerCrate {
        carried: Carried {
            resolver: resolver(&manifest),
            tables: carried_tables(&manifest, &members.names),
            regenerate: regenerate_command(out_from_root, &options.selection),
        },
        config: cargo_config(&workspace.root)?,
        lock: &lock,
        workspace_crates: &members.lock_keys,
        cargo: &options.cargo,
    };

    let mut contents = LayerContents::new(&workspace.metadata, &workspace.local, &units);
    let mut files = layer_crate.whole(&mut contents)?;
    let binaries = units
        .iter()
        .map(|(variant, units)| (variant.clone(), units.binaries(&workspace.local)))
        .collect();
    let mut plan_file = PlanFile::new(
        &workspace.variants,
        &options.selection,
        &binaries,
        &layer_crate.carried.regenerate,
    );
    plan_file.set_manifests(&members.manifests);
    plan_file.set_member_steps(&workspace.metadata, &units, workspace.settings.member_steps);
    if workspace.settings.workspace_checks {
        plan_file.add_workspace_checks();
    }
    for (name, layer) in &plan_file.layers {
        let slice = if name == WORKSPACE_LAYER && workspace.settings.workspace_checks {
            // Its own contents, not a variant's feature over the common part: the common
            // layer's features must not change with the opt-in, and `--workspace` may enable
            // fewer features of a crate than every variant does.
            let units = BTreeMap::from([(
                WORKSPACE_LAYER.to_string(),
                workspace_check_units(options, workspace)?,
            )]);
            let contents = LayerContents::new(&workspace.metadata, &workspace.local, &units);
            layer_crate.slice(&contents, Scope::Common, &layer.dir)?
        } else {
            layer_crate.slice(&contents, Scope::of_layer(name), &layer.dir)?
        };
        files.extend(slice);
    }
    files.insert(crate::plan_file::FILE.into(), plan_file.render());
    Ok(Layer { files })
}

/// The workspace's own crates, as the layer must leave them out.
struct Members {
    /// Their lock entries.
    lock_keys: BTreeSet<LockKey>,
    names: BTreeSet<String>,
    /// name → manifest, relative to the root.
    manifests: BTreeMap<String, String>,
}

impl Members {
    fn of(workspace: &Workspace) -> Members {
        let local = || {
            workspace
                .metadata
                .packages
                .iter()
                .filter(|package| workspace.local.contains(&package.id))
        };
        Members {
            lock_keys: local()
                .map(|package| {
                    (
                        package.name.clone(),
                        package.version.clone(),
                        package.source.clone().unwrap_or_default(),
                    )
                })
                .collect(),
            names: local().map(|package| package.name.clone()).collect(),
            manifests: local()
                .filter_map(|package| {
                    let relative = package.manifest_path.strip_prefix(&workspace.root).ok()?;
                    Some((
                        package.name.clone(),
                        relative.to_string_lossy().into_owned(),
                    ))
                })
                .collect(),
        }
    }
}

pub use crate::output::write_files;

/// The marker that makes an output folder the layer's: `generate` replaces only folders holding it.
pub const MARKER: Marker = Marker {
    tool: "deps-layer",
    file: ".deps-layer",
    text: "This folder is written by `deps-layer generate`, which replaces it whole: keep nothing else here.\n",
    earlier: Some(Earlier {
        is_generated: is_generated_file,
        staging_prefix: ".deps-layer-",
    }),
};

/// A file of a layer written before the marker existed: each file carries the header, but the
/// lock, which is cargo's.
fn is_generated_file(relative: &Path, content: &str) -> bool {
    let first_line = content.lines().next().unwrap_or_default();
    let header = manifest::header("");
    let generated = header
        .lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("# ");
    let is_lock = relative
        .file_name()
        .is_some_and(|name| name == "Cargo.lock")
        && first_line == "# This file is automatically @generated by Cargo.";
    is_lock
        || first_line.strip_prefix("# ") == Some(generated)
        || first_line.strip_prefix("// ") == Some(generated)
}

impl Layer {
    /// The files as they are on disk, the marker included.
    pub fn on_disk(&self) -> BTreeMap<String, String> {
        let mut files = self.files.clone();
        files.insert(MARKER.file.into(), MARKER.text.into());
        files
    }
}

impl Workspace {
    /// What an output folder must neither be nor contain: the workspace root and the folder of
    /// every local package.
    pub fn protected(&self) -> Vec<Protected> {
        let mut protected = vec![Protected {
            path: self.root.clone(),
            what: "the workspace root".into(),
        }];
        for package in &self.metadata.packages {
            if package.source.is_none() {
                protected.push(Protected {
                    path: crate::cargo::manifest_dir(&package.manifest_path),
                    what: format!("the folder of package `{}`", package.name),
                });
            }
        }
        protected
    }
}

/// Replaces `out` with the layer (see [`crate::output::replace_dir`]): refused unless `out` is
/// missing, empty or an earlier layer, and never left missing or half-written. The command line
/// also passes the workspace's [`Workspace::protected`] paths.
pub fn write_layer(layer: &Layer, out: &Path) -> Result<PathBuf> {
    crate::output::replace_dir(out, &MARKER, &layer.files, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|word| word.to_string()).collect()
    }

    #[test]
    fn native_cpu_is_dropped_in_every_spelling() {
        for native in [
            &["-C", "target-cpu=native"][..],
            &["-Ctarget-cpu=native"],
            &["-C target-cpu=native"],
            &["--codegen", "target-cpu=native"],
            &["--codegen=target-cpu=native"],
        ] {
            let mut input = args(&["-C", "opt-level=3"]);
            input.extend(args(native));
            input.extend(args(&["--cfg", "tokio_unstable"]));
            let (kept, found) = without_native_cpu(&input);
            assert!(found, "{native:?}");
            assert_eq!(
                kept,
                args(&["-C", "opt-level=3", "--cfg", "tokio_unstable"]),
                "{native:?}"
            );
        }
    }

    #[test]
    fn other_cpus_and_lone_codegen_flags_are_kept() {
        for input in [
            &["-C", "target-cpu=x86-64-v3"][..],
            &["-Ctarget-cpu=znver4"],
            &["-C", "target-feature=+avx2"],
            &["-C"],
            &["target-cpu=native"],
        ] {
            let (kept, found) = without_native_cpu(&args(input));
            assert!(!found, "{input:?}");
            assert_eq!(kept, args(input));
        }
    }

    #[test]
    fn every_rustflags_list_of_a_config_is_stripped() {
        let mut config: toml::Table = r#"
[build]
rustflags = ["-C", "target-cpu=native", "-Dwarnings"]
rustdocflags = "-Ctarget-cpu=native --cfg docsrs"
target = "x86_64-unknown-linux-gnu"

[target.x86_64-unknown-linux-gnu]
rustflags = "-C  target-cpu=native   -C link-arg=-fuse-ld=lld"

[target.'cfg(unix)']
rustflags = ["-C", "force-frame-pointers=yes"]

[profile.release]
rustflags = ["-Ctarget-cpu=native"]
"#
        .parse()
        .unwrap();
        assert!(strip_native_cpu(&mut config));
        let expected: toml::Table = r#"
[build]
rustflags = ["-Dwarnings"]
rustdocflags = "--cfg docsrs"
target = "x86_64-unknown-linux-gnu"

[target.x86_64-unknown-linux-gnu]
rustflags = "-C link-arg=-fuse-ld=lld"

[target.'cfg(unix)']
rustflags = ["-C", "force-frame-pointers=yes"]

[profile.release]
rustflags = []
"#
        .parse()
        .unwrap();
        assert_eq!(config, expected);
        assert!(!strip_native_cpu(&mut config), "nothing left to strip");
    }
}
