//! The layer crate's files: rendered from what it must compile (its contents), with a lock cargo
//! completes from the workspace's, whole (every variant) or as one layer's slice.

use std::collections::{BTreeMap, BTreeSet};

use crate::cargo::Cargo;
use crate::error::{Error, Result};
use crate::layer_contents::LayerContents;
use crate::lock::{LockFile, LockKey};
use crate::manifest::{self, Carried, Scope};

/// Relative path → content.
pub type Files = BTreeMap<String, String>;

pub struct LayerCrate<'a> {
    pub carried: Carried,
    /// The workspace's `.cargo/config.toml`, as far as it changes how units compile.
    pub config: Option<String>,
    /// The workspace's lock, and its entries of workspace crates, which the layer never names.
    pub lock: &'a LockFile,
    pub workspace_crates: &'a BTreeSet<LockKey>,
    pub cargo: &'a Cargo,
}

impl LayerCrate<'_> {
    /// Every variant's part, its lock completed. Packages cargo would drop from that lock are
    /// declared in the lock helper first, so the lock keeps them resolvable.
    pub fn whole(&self, contents: &mut LayerContents) -> Result<Files> {
        let mut files = self.render(contents, Scope::All);
        let mut lock = self.complete(&files)?;
        let completed = LockFile::parse(std::path::Path::new("Cargo.lock"), &lock)?;
        contents.keep_resolvable(self.lock, &completed, self.workspace_crates);
        if !contents.never_built.is_empty() {
            files = self.render(contents, Scope::All);
            lock = self.complete(&files)?;
        }
        files.insert("Cargo.lock".into(), lock);
        Ok(files)
    }

    /// One layer's slice, under `dir`: its manifest and lock hold only that layer's crates, so
    /// a change to one variant's dependencies reaches no other layer's inputs.
    pub fn slice(&self, contents: &LayerContents, scope: Scope<'_>, dir: &str) -> Result<Files> {
        let mut files = self.render(contents, scope);
        let lock = self.complete(&files)?;
        files.insert("Cargo.lock".into(), lock);
        Ok(files
            .into_iter()
            .map(|(path, content)| (format!("{dir}/{path}"), content))
            .collect())
    }

    fn render(&self, contents: &LayerContents, scope: Scope<'_>) -> Files {
        let mut files = manifest::render(contents, &self.carried, scope);
        if let Some(config) = &self.config {
            files.insert(
                ".cargo/config.toml".into(),
                format!("{}\n{config}", manifest::header(&self.carried.regenerate)),
            );
        }
        files
    }

    /// The lock of `files`: the workspace's entries, without its own crates, completed by
    /// cargo in a scratch folder.
    fn complete(&self, files: &Files) -> Result<String> {
        let scratch = tempfile::tempdir().map_err(|source| Error::Write {
            path: std::env::temp_dir(),
            source,
        })?;
        let mut with_lock = files.clone();
        with_lock.insert(
            "Cargo.lock".into(),
            self.lock.without(self.workspace_crates),
        );
        crate::output::write_files(scratch.path(), &with_lock)?;
        crate::lock::complete(self.cargo, scratch.path(), self.lock)
    }
}
