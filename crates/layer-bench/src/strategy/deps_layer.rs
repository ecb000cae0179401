//! Ours: `deps-layer generate` writes the synthetic package; crane builds it with its three
//! commands, the variant's feature selecting that variant's extra deps.

use std::path::Path;

use crate::error::BenchError;
use crate::fsutil;
use crate::process::{self, Step};

use super::Tools;

pub fn generate(
    tools: &Tools,
    workspace_root: &Path,
    out: &Path,
    log: &Path,
) -> Result<(), BenchError> {
    fsutil::remove_dir_if_present(out)?;
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).map_err(|source| BenchError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    let step = Step::new(
        &tools.deps_layer.display().to_string(),
        &["generate", "--manifest-path"],
        workspace_root,
    )
    .arg(workspace_root.join("Cargo.toml").display().to_string())
    .arg("--out")
    .arg(out.display().to_string());
    process::run(&step, log).map(|_| ())
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
