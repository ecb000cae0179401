//! Errors of the library. Each names the file or item at fault so the user can fix the input.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot parse {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error(
        "{lock} is out of date: `cargo metadata --locked` refused it; update the lock (`cargo update --workspace`) and commit it\n{stderr}"
    )]
    LockOutOfDate { lock: PathBuf, stderr: String },
    #[error(
        "{lock} is missing: the layer is derived from the workspace's lock file; create it with `cargo generate-lockfile` in {root} and commit it"
    )]
    LockMissing { lock: PathBuf, root: PathBuf },
    #[error("{manifest}: [workspace.metadata.variants.{variant}] is invalid: {message}")]
    BadVariant {
        manifest: PathBuf,
        variant: String,
        message: String,
    },
    #[error("{manifest}: [workspace.metadata.variants] is invalid: {message}")]
    BadVariants { manifest: PathBuf, message: String },
    #[error("{manifest}: [workspace.metadata.deps-layer] is invalid: {message}")]
    BadSettings { manifest: PathBuf, message: String },
    #[error(
        "{manifest}: variant `{variant}` names feature `{feature}`, which does not exist in the workspace"
    )]
    UnknownFeature {
        manifest: PathBuf,
        variant: String,
        feature: String,
    },
    #[error("unknown variant `{variant}`; the workspace has: {known}")]
    UnknownVariant { variant: String, known: String },
    #[error("{lock}: git dependency `{package}` has no locked revision (source `{source_id}`)")]
    UnlockedGit {
        lock: PathBuf,
        package: String,
        source_id: String,
    },
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("`{command}` failed in {dir}:\n{stderr}")]
    Cargo {
        command: String,
        dir: PathBuf,
        stderr: String,
    },
    #[error("unexpected output of `{command}`: {message}")]
    Output { command: String, message: String },
    #[error("the layer's lock does not match the workspace lock: {0}")]
    LockMismatch(String),
    #[error("refusing to write {path}: {reason}; nothing was changed")]
    Refused { path: PathBuf, reason: String },
    #[error(
        "{manifest}: cannot add [workspace.metadata.variants] by appending it ({message}); add the table by hand, e.g. `cpu = {{}}`"
    )]
    CannotAddVariants { manifest: PathBuf, message: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
