//! cargo-chef: `prepare` writes recipe.json (the key), `cook` rebuilds the skeleton it describes
//! in an empty dir and builds it, as a Docker stage does.

use std::path::Path;

use crate::error::BenchError;
use crate::process::{self, Step};

use super::Tools;

pub const RECIPE: &str = "recipe.json";

fn chef(tools: &Tools) -> Result<String, BenchError> {
    tools
        .cargo_chef
        .as_ref()
        .map(|p| p.display().to_string())
        .ok_or_else(|| {
            BenchError::Invalid(
                "cargo-chef is needed for this strategy but was not installed".into(),
            )
        })
}

pub fn prepare(
    tools: &Tools,
    workspace_root: &Path,
    recipe: &Path,
    log: &Path,
) -> Result<(), BenchError> {
    if let Some(parent) = recipe.parent() {
        std::fs::create_dir_all(parent).map_err(|source| BenchError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    let step = Step::new(
        &chef(tools)?,
        &["chef", "prepare", "--recipe-path"],
        workspace_root,
    )
    .arg(recipe.display().to_string());
    process::run(&step, log).map(|_| ())
}

/// One `cook` with the final build's profile and features; `--all-targets` so the test build's
/// dev-dependencies are cooked too, as crane's `test --no-run` does for the other layers.
pub fn cook_steps(
    tools: &Tools,
    recipe: &Path,
    cook_dir: &Path,
    features: &[String],
) -> Result<Vec<Step>, BenchError> {
    let step = Step::new(
        &chef(tools)?,
        &[
            "chef",
            "cook",
            "--release",
            "--locked",
            "--workspace",
            "--all-targets",
            "--recipe-path",
        ],
        cook_dir,
    )
    .arg(recipe.display().to_string())
    .args(super::feature_args(features));
    Ok(vec![step])
}
