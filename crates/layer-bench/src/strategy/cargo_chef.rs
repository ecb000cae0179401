//! cargo-chef: `prepare` writes recipe.json (the key), `cook` rebuilds the skeleton it describes
//! in an empty dir and builds it, as a Docker stage does.

use std::path::Path;

use crate::error::BenchError;
use crate::fsutil;
use crate::process::{self, Step};
use crate::workspace;

use super::Tools;

pub const RECIPE: &str = "recipe.json";
/// Local crates the recipe leaves out but the cook needs (path dependencies and `[patch]`es
/// outside the members), kept next to the recipe: a Dockerfile using cargo-chef has to copy them
/// into the cook stage by hand.
pub const LOCAL_CRATES: &str = "local-crates";

/// `cargo chef …` with the installed binary's dir first on `PATH`: cargo-chef must be started by
/// cargo, which tells it (through `CARGO`) which toolchain to use.
fn chef_step(tools: &Tools, args: &[&str], dir: &Path) -> Result<Step, BenchError> {
    let binary = tools.cargo_chef.as_ref().ok_or_else(|| {
        BenchError::Invalid("cargo-chef is needed for this strategy but was not installed".into())
    })?;
    let bin_dir = binary.parent().unwrap_or(Path::new("."));
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![bin_dir.to_path_buf()];
    dirs.extend(std::env::split_paths(&path));
    let joined = std::env::join_paths(dirs).map_err(|e| {
        BenchError::Invalid(format!("cannot put {} on PATH: {e}", bin_dir.display()))
    })?;
    let mut chef_args = vec!["chef"];
    chef_args.extend_from_slice(args);
    Ok(Step::new(&tools.cargo, &chef_args, dir).env("PATH", joined.to_string_lossy().into_owned()))
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
    let local = recipe.with_file_name(LOCAL_CRATES);
    fsutil::remove_dir_if_present(&local)?;
    for relative in workspace::local_non_member_dirs(workspace_root)? {
        fsutil::copy_workspace(&workspace_root.join(&relative), &local.join(&relative))?;
    }
    let step = chef_step(tools, &["prepare", "--recipe-path"], workspace_root)?
        .arg(recipe.display().to_string());
    process::run(&step, log).map(|_| ())
}

/// Two cooks with the final build's profile and features, matching its two commands: a plain
/// one (`cargo build`), then `--all-targets` for the test build, whose dev-dependencies can change
/// the features of shared crates (one `--all-targets` cook alone leaves the plain build's units
/// to be compiled again).
pub fn cook_steps(
    tools: &Tools,
    recipe: &Path,
    cook_dir: &Path,
    features: &[String],
) -> Result<Vec<Step>, BenchError> {
    let local = recipe.with_file_name(LOCAL_CRATES);
    if local.is_dir() {
        fsutil::copy_workspace(&local, cook_dir)?;
    }
    let mut steps = Vec::new();
    for extra in [&[][..], &["--all-targets"][..]] {
        let mut args = vec!["cook", "--release", "--locked", "--workspace"];
        args.extend_from_slice(extra);
        args.push("--recipe-path");
        steps.push(
            chef_step(tools, &args, cook_dir)?
                .arg(recipe.display().to_string())
                .args(super::feature_args(features)),
        );
    }
    Ok(steps)
}
