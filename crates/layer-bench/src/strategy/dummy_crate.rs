//! The hand-kept style: one crate (`ci_optims`) listing every `[workspace.dependencies]` entry as
//! `{ workspace = true }`, without the members' features, built in a Docker stage that copies the
//! root manifest, the lock and that crate, with the root manifest cut down to it.

use std::path::{Path, PathBuf};

use crate::error::BenchError;
use crate::fsutil;
use crate::keys;
use crate::process::Step;
use crate::workspace::external_workspace_dependencies;

pub const CRATE_DIR: &str = "ci_optims";

/// Manifest of the dummy crate for the given workspace dependency names.
pub fn dummy_manifest(dependencies: &[String]) -> String {
    let mut text = String::from(
        "[package]\nname = \"ci_optims\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n[dependencies]\n",
    );
    for dep in dependencies {
        text.push_str(&format!("{dep} = {{ workspace = true }}\n"));
    }
    text
}

/// The root manifest as the deps stage sees it: the workspace with the dummy crate as its only
/// member; `[workspace.dependencies]`, profiles and patches kept, any root package dropped.
/// Local paths in `[patch]`/`[replace]` are made absolute (pointing into `workspace_root`): the
/// stage sits elsewhere, and a patched crate must stay patched or the layer builds another crate.
pub fn cut_root_manifest(
    root_manifest: &str,
    path: &Path,
    workspace_root: &Path,
) -> Result<String, BenchError> {
    let mut table: toml::Table =
        toml::from_str(root_manifest).map_err(|source| BenchError::Toml {
            path: path.to_path_buf(),
            source,
        })?;
    for key in ["patch", "replace"] {
        if let Some(value) = table.get_mut(key) {
            absolutize_paths(value, workspace_root);
        }
    }
    let mut cut = toml::Table::new();
    for key in ["workspace", "profile", "patch", "replace"] {
        if let Some(value) = table.get(key) {
            cut.insert(key.to_string(), value.clone());
        }
    }
    let workspace = cut
        .entry("workspace")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
        .ok_or_else(|| {
            BenchError::Invalid(format!("{}: `workspace` is not a table", path.display()))
        })?;
    workspace.insert(
        "members".into(),
        toml::Value::Array(vec![toml::Value::String(CRATE_DIR.into())]),
    );
    workspace.remove("default-members");
    workspace.remove("exclude");
    toml::to_string(&cut).map_err(|source| BenchError::TomlWrite {
        path: path.to_path_buf(),
        source,
    })
}

fn absolutize_paths(value: &mut toml::Value, base: &Path) {
    let Some(table) = value.as_table_mut() else {
        return;
    };
    for (key, entry) in table.iter_mut() {
        match entry {
            toml::Value::String(relative) if key == "path" => {
                *relative = base.join(&*relative).display().to_string();
            }
            toml::Value::Table(_) => absolutize_paths(entry, base),
            _ => {}
        }
    }
}

/// The files the Docker stage copies, written under `out` (the root manifest still uncut: the
/// stage cuts it after the copy). Returns their paths, the inputs of the layer key.
pub fn stage_files(workspace_root: &Path, out: &Path) -> Result<Vec<PathBuf>, BenchError> {
    let manifest_path = workspace_root.join("Cargo.toml");
    let root_manifest = fsutil::read_to_string(&manifest_path)?;
    let dependencies = external_workspace_dependencies(&root_manifest, &manifest_path)?;
    let files = [
        (out.join("Cargo.toml"), root_manifest),
        (
            out.join("Cargo.lock"),
            fsutil::read_to_string(&workspace_root.join("Cargo.lock"))?,
        ),
        (
            out.join(CRATE_DIR).join("Cargo.toml"),
            dummy_manifest(&dependencies),
        ),
        (out.join(CRATE_DIR).join("src/lib.rs"), String::new()),
    ];
    for (path, content) in &files {
        fsutil::write(path, content)?;
    }
    Ok(files.into_iter().map(|(path, _)| path).collect())
}

/// Writes the deps stage (copied files, root manifest cut) into `out`.
pub fn write_layer(workspace_root: &Path, out: &Path) -> Result<Vec<PathBuf>, BenchError> {
    let files = stage_files(workspace_root, out)?;
    let manifest_path = out.join("Cargo.toml");
    let cut = cut_root_manifest(
        &fsutil::read_to_string(&manifest_path)?,
        &manifest_path,
        workspace_root,
    )?;
    fsutil::write(&manifest_path, &cut)?;
    Ok(files)
}

pub fn key(workspace_root: &Path, scratch: &Path) -> Result<String, BenchError> {
    let files = stage_files(workspace_root, scratch)?;
    keys::files_key(scratch, &files)
}

/// crane's three commands, but without `--locked`: cutting the members out of the workspace
/// makes the copied lock stale, and cargo trims it (keeping every remaining version). No variant
/// features: the dummy crate has none.
pub fn layer_steps(cargo: &str, layer_src: &Path) -> Vec<Step> {
    super::crane_layer_steps(cargo, layer_src, false, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dummy_manifest_lists_each_dependency_from_the_workspace() {
        let text = dummy_manifest(&["anyhow".into(), "serde".into()]);
        let table: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(
            table["dependencies"]["serde"]["workspace"].as_bool(),
            Some(true)
        );
        assert_eq!(table["dependencies"].as_table().unwrap().len(), 2);
    }

    #[test]
    fn cut_manifest_keeps_workspace_deps_and_profile_and_drops_members_and_root_package() {
        let root = r#"
[package]
name = "root"
version = "0.1.0"
[workspace]
members = ["crates/*"]
default-members = ["crates/a"]
[workspace.dependencies]
serde = "1"
[profile.release]
lto = true
[patch.crates-io]
fnv = { path = "patched/fnv" }
"#;
        let cut = cut_root_manifest(root, Path::new("Cargo.toml"), Path::new("/w")).unwrap();
        let cut: toml::Table = toml::from_str(&cut).unwrap();
        assert_eq!(
            cut["patch"]["crates-io"]["fnv"]["path"].as_str(),
            Some("/w/patched/fnv")
        );
        assert!(cut.get("package").is_none());
        assert_eq!(cut["workspace"]["members"].as_array().unwrap().len(), 1);
        assert!(cut["workspace"].get("default-members").is_none());
        assert_eq!(
            cut["workspace"]["dependencies"]["serde"].as_str(),
            Some("1")
        );
        assert_eq!(cut["profile"]["release"]["lto"].as_bool(), Some(true));
    }
}
