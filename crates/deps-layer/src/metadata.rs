//! `cargo metadata`: which packages are local (members, path crates) and which are external.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cargo::Cargo;
use crate::error::{Error, Result};

#[derive(Debug, Deserialize)]
pub struct Metadata {
    pub packages: Vec<Package>,
    pub workspace_members: Vec<String>,
    pub resolve: Option<Resolve>,
    pub workspace_root: PathBuf,
}

#[derive(Debug, Deserialize)]
pub struct Package {
    pub id: String,
    pub name: String,
    pub version: String,
    pub source: Option<String>,
    pub targets: Vec<Target>,
    #[serde(default)]
    pub features: BTreeMap<String, Vec<String>>,
    pub manifest_path: PathBuf,
}

#[derive(Debug, Deserialize, Clone)]
pub struct Target {
    pub name: String,
    pub kind: Vec<String>,
    #[serde(default)]
    pub crate_types: Vec<String>,
    #[serde(default)]
    pub src_path: PathBuf,
}

#[derive(Debug, Deserialize)]
pub struct Resolve {
    pub nodes: Vec<Node>,
}

#[derive(Debug, Deserialize)]
pub struct Node {
    pub id: String,
    #[serde(default)]
    pub deps: Vec<NodeDep>,
}

#[derive(Debug, Deserialize)]
pub struct NodeDep {
    pub pkg: String,
    #[serde(default)]
    pub dep_kinds: Vec<DepKind>,
}

#[derive(Debug, Deserialize)]
pub struct DepKind {
    pub kind: Option<String>,
    pub target: Option<String>,
}

impl Metadata {
    /// Runs `cargo metadata --locked` for the whole workspace with all features, so every package
    /// any variant can reach is known (and downloaded) before the per-variant unit graphs run.
    pub fn load(cargo: &Cargo, manifest: &Path) -> Result<Metadata> {
        let manifest_str = manifest.to_string_lossy();
        let args = [
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--all-features",
            "--manifest-path",
            &manifest_str,
        ];
        let dir = crate::cargo::manifest_dir(manifest);
        let output = match cargo.run(&dir, &args) {
            Ok(output) => output,
            Err(Error::Cargo { stderr, .. }) if is_lock_refusal(&stderr) => {
                return Err(Error::LockOutOfDate {
                    lock: lock_path_near(manifest),
                    stderr,
                });
            }
            Err(err) => return Err(err),
        };
        serde_json::from_slice(&output.stdout).map_err(|err| Error::Output {
            command: crate::cargo::display(&args),
            message: err.to_string(),
        })
    }

    pub fn package(&self, id: &str) -> Option<&Package> {
        self.packages.iter().find(|package| package.id == id)
    }

    /// Members, path crates outside the members and local `[patch]` targets, plus any registry
    /// package that depends on one of them: the layer cannot build those without the workspace.
    pub fn local_packages(&self) -> BTreeSet<String> {
        let mut local: BTreeSet<String> = self
            .packages
            .iter()
            .filter(|package| package.source.is_none())
            .map(|package| package.id.clone())
            .collect();
        local.extend(self.workspace_members.iter().cloned());
        let Some(resolve) = &self.resolve else {
            return local;
        };
        loop {
            let before = local.len();
            for node in &resolve.nodes {
                if !local.contains(&node.id) && node.deps.iter().any(|dep| local.contains(&dep.pkg))
                {
                    local.insert(node.id.clone());
                }
            }
            if local.len() == before {
                return local;
            }
        }
    }
}

fn is_lock_refusal(stderr: &str) -> bool {
    stderr.contains("--locked")
        || stderr.contains("lock file") && stderr.contains("needs to be updated")
}

fn lock_path_near(manifest: &Path) -> PathBuf {
    crate::cargo::manifest_dir(manifest).join("Cargo.lock")
}
