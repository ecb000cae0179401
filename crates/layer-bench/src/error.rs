//! Errors of the benchmark library; the binary adds context with `anyhow` at its edge.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("cannot access {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot parse {path} as TOML: {source}")]
    Toml {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("cannot write TOML for {path}: {source}")]
    TomlWrite {
        path: PathBuf,
        source: toml::ser::Error,
    },
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("`{command}` failed in {dir} ({status}); last output:\n{tail}")]
    CommandFailed {
        command: String,
        dir: PathBuf,
        status: String,
        tail: String,
    },
    #[error("cannot read `cargo metadata` output for {path}: {source}")]
    Metadata {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "variant `{variant}` is not in [workspace.metadata.variants] of {path} (known: {known})"
    )]
    UnknownVariant {
        variant: String,
        path: PathBuf,
        known: String,
    },
    #[error("{0}")]
    Invalid(String),
    /// The generated layer's plan (`plan.json`) is missing, unreadable or lacks the variant.
    #[error(transparent)]
    Plan(#[from] deps_layer::Error),
}
