//! What the benchmark needs to know about the workspace under test, from `cargo metadata
//! --no-deps` (members, their sources) and the root manifest (`[workspace.dependencies]`,
//! `[workspace.metadata.variants]`).

use std::path::{Path, PathBuf};
use std::process::Command;

use deps_layer::variants::{DEFAULT_VARIANT, Variant, Variants};
use serde::Deserialize;

use crate::error::BenchError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub version: String,
    pub manifest_path: PathBuf,
    /// Source file of the library target, or of the first target when there is no library.
    pub main_source: PathBuf,
    pub has_lib: bool,
}

#[derive(Debug, Clone)]
pub struct Workspace {
    pub root: PathBuf,
    /// Members sorted by name, so every choice made from them is reproducible.
    pub members: Vec<Member>,
    /// `[workspace.metadata.variants]`, read and validated by deps-layer (`default` alone when
    /// the workspace has no table).
    pub variants: Variants,
}

#[derive(Deserialize)]
struct Metadata {
    workspace_root: PathBuf,
    workspace_members: Vec<String>,
    packages: Vec<MetaPackage>,
    #[serde(default)]
    metadata: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct MetaPackage {
    id: String,
    name: String,
    version: String,
    manifest_path: PathBuf,
    targets: Vec<MetaTarget>,
}

#[derive(Deserialize)]
struct MetaTarget {
    kind: Vec<String>,
    src_path: PathBuf,
}

/// Reads `cargo metadata --format-version 1 --no-deps` output.
pub fn parse_metadata(json: &str, manifest_path: &Path) -> Result<Workspace, BenchError> {
    let metadata: Metadata = serde_json::from_str(json).map_err(|source| BenchError::Metadata {
        path: manifest_path.to_path_buf(),
        source,
    })?;
    let mut members = Vec::new();
    for package in metadata.packages {
        if !metadata.workspace_members.contains(&package.id) {
            continue;
        }
        let lib = package.targets.iter().find(|t| {
            t.kind
                .iter()
                .any(|k| k == "lib" || k == "rlib" || k == "proc-macro" || k.ends_with("lib"))
        });
        let Some(main) = lib.or(package.targets.first()) else {
            continue;
        };
        members.push(Member {
            name: package.name,
            version: package.version,
            manifest_path: package.manifest_path,
            main_source: main.src_path.clone(),
            has_lib: lib.is_some(),
        });
    }
    members.sort_by(|a, b| a.name.cmp(&b.name));

    let variants = read_variants(metadata.metadata.as_ref(), manifest_path)?;
    Ok(Workspace {
        root: metadata.workspace_root,
        members,
        variants,
    })
}

/// The variants table out of the metadata's `workspace.metadata`, read by deps-layer's one
/// parser, so the benchmark accepts exactly the tables deps-layer and the flake do.
fn read_variants(
    metadata: Option<&serde_json::Value>,
    manifest_path: &Path,
) -> Result<Variants, BenchError> {
    let mut manifest = toml::Table::new();
    if let Some(table) = metadata.and_then(|metadata| metadata.get("variants")) {
        let table = toml::Value::try_from(table).map_err(|err| {
            BenchError::Invalid(format!(
                "{}: [workspace.metadata.variants] is not a TOML table: {err}",
                manifest_path.display()
            ))
        })?;
        let mut workspace_metadata = toml::Table::new();
        workspace_metadata.insert("variants".into(), table);
        let mut workspace = toml::Table::new();
        workspace.insert("metadata".into(), toml::Value::Table(workspace_metadata));
        manifest.insert("workspace".into(), toml::Value::Table(workspace));
    }
    Ok(deps_layer::variants::read(manifest_path, &manifest)?)
}

pub fn load(manifest_path: &Path) -> Result<Workspace, BenchError> {
    let command = format!(
        "cargo metadata --format-version 1 --no-deps --offline --manifest-path {}",
        manifest_path.display()
    );
    let output = Command::new("cargo")
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
            "--manifest-path",
        ])
        .arg(manifest_path)
        .output()
        .map_err(|source| BenchError::Spawn {
            command: command.clone(),
            source,
        })?;
    if !output.status.success() {
        return Err(BenchError::CommandFailed {
            command,
            dir: manifest_path.to_path_buf(),
            status: output.status.to_string(),
            tail: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    parse_metadata(&String::from_utf8_lossy(&output.stdout), manifest_path)
}

impl Workspace {
    /// The features a variant builds with. `default`, unless the table defines it, is the plain
    /// build with no features (deps-layer's only variant for a workspace without the table).
    pub fn variant_features(&self, variant: &str) -> Result<Vec<String>, BenchError> {
        self.variant(variant).map(|entry| entry.features.clone())
    }

    /// The real build's package selection of a variant: its `packages`, else the whole workspace.
    pub fn variant_selection(&self, variant: &str) -> Result<Vec<String>, BenchError> {
        self.variant(variant)
            .map(|entry| entry.selection(&["--workspace".to_string()]))
    }

    fn variant(&self, variant: &str) -> Result<Variant, BenchError> {
        if let Some(entry) = self.variants.get(variant) {
            return Ok(entry.clone());
        }
        if variant == DEFAULT_VARIANT {
            return Ok(Variant::default());
        }
        Err(BenchError::UnknownVariant {
            variant: variant.to_string(),
            path: self.root.join("Cargo.toml"),
            known: self.variants.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }

    pub fn is_member(&self, name: &str) -> bool {
        self.members.iter().any(|m| m.name == name)
    }
}

#[derive(Deserialize)]
struct FullMetadata {
    workspace_members: Vec<String>,
    packages: Vec<FullPackage>,
}

#[derive(Deserialize)]
struct FullPackage {
    id: String,
    source: Option<String>,
    manifest_path: PathBuf,
}

/// Dirs (relative to `root`) of the local crates in the resolved graph that are not members: path
/// dependencies and `[patch]`es outside `members`.
pub fn parse_local_non_members(
    json: &str,
    root: &Path,
    manifest_path: &Path,
) -> Result<Vec<PathBuf>, BenchError> {
    let metadata: FullMetadata =
        serde_json::from_str(json).map_err(|source| BenchError::Metadata {
            path: manifest_path.to_path_buf(),
            source,
        })?;
    let mut dirs: Vec<PathBuf> = metadata
        .packages
        .iter()
        .filter(|p| p.source.is_none() && !metadata.workspace_members.contains(&p.id))
        .filter_map(|p| {
            p.manifest_path
                .parent()?
                .strip_prefix(root)
                .ok()
                .map(Path::to_path_buf)
        })
        .collect();
    dirs.sort();
    dirs.dedup();
    Ok(dirs)
}

pub fn local_non_member_dirs(root: &Path) -> Result<Vec<PathBuf>, BenchError> {
    let manifest_path = root.join("Cargo.toml");
    let command = format!(
        "cargo metadata --format-version 1 --locked --offline --manifest-path {}",
        manifest_path.display()
    );
    let output = Command::new("cargo")
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--offline",
            "--manifest-path",
        ])
        .arg(&manifest_path)
        .output()
        .map_err(|source| BenchError::Spawn {
            command: command.clone(),
            source,
        })?;
    if !output.status.success() {
        return Err(BenchError::CommandFailed {
            command,
            dir: root.to_path_buf(),
            status: output.status.to_string(),
            tail: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    parse_local_non_members(
        &String::from_utf8_lossy(&output.stdout),
        root,
        &manifest_path,
    )
}

/// Names of the root manifest's `[workspace.dependencies]` that are not local paths: the list a
/// hand-kept dummy crate copies. Path entries are the workspace's own crates, which a Docker deps
/// stage does not have.
pub fn external_workspace_dependencies(
    root_manifest: &str,
    path: &Path,
) -> Result<Vec<String>, BenchError> {
    let table: toml::Table = toml::from_str(root_manifest).map_err(|source| BenchError::Toml {
        path: path.to_path_buf(),
        source,
    })?;
    let deps = table
        .get("workspace")
        .and_then(|w| w.get("dependencies"))
        .and_then(|d| d.as_table())
        .cloned()
        .unwrap_or_default();
    Ok(deps
        .into_iter()
        .filter(|(_, spec)| spec.get("path").is_none())
        .map(|(name, _)| name)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const METADATA: &str = r#"{"packages":[
 {"name":"srv","version":"0.2.0","id":"path+file:///w/srv#0.2.0","manifest_path":"/w/srv/Cargo.toml",
  "targets":[{"kind":["bin"],"crate_types":["bin"],"name":"srv","src_path":"/w/srv/src/main.rs"}]},
 {"name":"core","version":"0.1.0","id":"path+file:///w/core#0.1.0","manifest_path":"/w/core/Cargo.toml",
  "targets":[{"kind":["lib"],"crate_types":["lib"],"name":"core","src_path":"/w/core/src/lib.rs"},
             {"kind":["test"],"crate_types":["bin"],"name":"t","src_path":"/w/core/tests/t.rs"}]}],
 "workspace_members":["path+file:///w/srv#0.2.0","path+file:///w/core#0.1.0"],
 "workspace_root":"/w","metadata":{"variants":{"cpu":{"features":[]},"cuda":{"features":["srv/cuda"]}}}}"#;

    #[test]
    fn reads_members_sorted_with_their_main_source() {
        let ws = parse_metadata(METADATA, Path::new("/w/Cargo.toml")).unwrap();
        let names: Vec<_> = ws.members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["core", "srv"]);
        assert_eq!(ws.members[0].main_source, Path::new("/w/core/src/lib.rs"));
        assert!(ws.members[0].has_lib);
        assert!(!ws.members[1].has_lib);
        assert_eq!(ws.members[1].version, "0.2.0");
    }

    #[test]
    fn reads_variant_features_and_rejects_unknown_variants() {
        let ws = parse_metadata(METADATA, Path::new("/w/Cargo.toml")).unwrap();
        assert_eq!(ws.variant_features("cuda").unwrap(), ["srv/cuda"]);
        assert_eq!(ws.variant_selection("cuda").unwrap(), ["--workspace"]);
        assert!(ws.variant_features("cpu").unwrap().is_empty());
        let err = ws.variant_features("rocm").unwrap_err().to_string();
        assert!(err.contains("rocm") && err.contains("cpu, cuda"), "{err}");
    }

    #[test]
    fn a_variant_s_packages_are_its_selection_and_the_table_is_read_strictly() {
        let json = METADATA.replace(
            r#""cuda":{"features":["srv/cuda"]}"#,
            r#""cuda":{"features":["srv/cuda"],"packages":["srv"]}"#,
        );
        let ws = parse_metadata(&json, Path::new("/w/Cargo.toml")).unwrap();
        assert_eq!(ws.variant_selection("cuda").unwrap(), ["--package", "srv"]);
        assert_eq!(ws.variant_selection("cpu").unwrap(), ["--workspace"]);
        let json = METADATA.replace(r#"{"features":[]}"#, r#"{"feature":[]}"#);
        let err = parse_metadata(&json, Path::new("/w/Cargo.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("variants.cpu"), "{err}");
        assert!(err.contains("unknown field `feature`"), "{err}");
    }

    #[test]
    fn workspace_without_variants_has_default() {
        let json = METADATA.replace(
            r#""metadata":{"variants":{"cpu":{"features":[]},"cuda":{"features":["srv/cuda"]}}}"#,
            r#""metadata":null"#,
        );
        let ws = parse_metadata(&json, Path::new("/w/Cargo.toml")).unwrap();
        assert!(ws.variant_features("default").unwrap().is_empty());
    }

    #[test]
    fn local_non_members_are_path_packages_outside_the_members() {
        let json = r#"{"workspace_members":["path+file:///w/a#0.1.0"],"packages":[
          {"id":"path+file:///w/a#0.1.0","source":null,"manifest_path":"/w/a/Cargo.toml"},
          {"id":"path+file:///w/local/util#0.1.0","source":null,"manifest_path":"/w/local/util/Cargo.toml"},
          {"id":"registry+x#serde@1.0.0","source":"registry+x","manifest_path":"/r/serde/Cargo.toml"}]}"#;
        let dirs =
            parse_local_non_members(json, Path::new("/w"), Path::new("/w/Cargo.toml")).unwrap();
        assert_eq!(dirs, [PathBuf::from("local/util")]);
    }

    #[test]
    fn dummy_crate_list_skips_local_path_entries() {
        let manifest = r#"
[workspace.dependencies]
serde = { version = "1", features = ["derive"] }
core = { path = "core" }
anyhow = "1"
"#;
        let deps = external_workspace_dependencies(manifest, Path::new("Cargo.toml")).unwrap();
        assert_eq!(deps, ["anyhow", "serde"]);
    }
}
