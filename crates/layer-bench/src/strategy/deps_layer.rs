//! Ours: `deps-layer generate` writes the synthetic package; crane builds it with its three
//! commands, the variant's feature selecting that variant's extra deps.

use std::path::Path;

use crate::error::BenchError;
use crate::fsutil;
use crate::keys;
use crate::process::{self, Step};

use super::Tools;

/// Runs `deps-layer generate` for the workspace at `workspace_root`; `out: None` writes the
/// default `nix/deps` inside it, which is also what the header of the generated files names.
pub fn generate(
    tools: &Tools,
    workspace_root: &Path,
    out: Option<&Path>,
    log: &Path,
) -> Result<(), BenchError> {
    let mut step = Step::new(
        &tools.deps_layer.display().to_string(),
        &["generate", "--offline", "--manifest-path"],
        workspace_root,
    )
    .arg(workspace_root.join("Cargo.toml").display().to_string());
    if let Some(out) = out {
        fsutil::remove_dir_if_present(out)?;
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent).map_err(|source| BenchError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        step = step.arg("--out").arg(out.display().to_string());
    }
    process::run(&step, log).map(|_| ())
}

/// Key of ours: the hash of `nix/deps` as generated for a copy of the workspace. The copy keeps the
/// workspace being keyed untouched (other strategies' keys read the same tree).
pub fn key(
    tools: &Tools,
    workspace_root: &Path,
    scratch: &Path,
    log: &Path,
) -> Result<String, BenchError> {
    let copy = scratch.join("workspace");
    fsutil::remove_dir_if_present(&copy)?;
    fsutil::copy_workspace(workspace_root, &copy)?;
    generate(tools, &copy, None, log)?;
    keys::directory_key(&copy.join("nix/deps"))
}

/// Whether the generated manifest declares a feature named `variant`.
pub fn has_feature(manifest: &str, variant: &str, path: &Path) -> Result<bool, BenchError> {
    let table: toml::Table = toml::from_str(manifest).map_err(|source| BenchError::Toml {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(table.get("features").and_then(|f| f.get(variant)).is_some())
}

pub fn layer_steps(cargo: &str, layer_src: &Path, variant: &str) -> Result<Vec<Step>, BenchError> {
    let manifest_path = layer_src.join("Cargo.toml");
    let manifest = fsutil::read_to_string(&manifest_path)?;
    let features = if has_feature(&manifest, variant, &manifest_path)? {
        vec![variant.to_string()]
    } else {
        Vec::new()
    };
    Ok(super::crane_layer_steps(cargo, layer_src, true, &features))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_feature_is_used_only_when_the_layer_declares_it() {
        let manifest = "[package]\nname = \"x\"\n[features]\ncuda = [\"dep:cudarc\"]\n";
        assert!(has_feature(manifest, "cuda", Path::new("Cargo.toml")).unwrap());
        assert!(!has_feature(manifest, "cpu", Path::new("Cargo.toml")).unwrap());
    }
}
