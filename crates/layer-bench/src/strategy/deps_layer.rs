//! Ours: `deps-layer generate` writes the synthetic package and its plan; crane builds the
//! variant's layer with the commands the plan gives it, as the flake does.

use std::path::Path;

use deps_layer::plan_file::PlanFile;

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

/// The commands of the variant's own layer, read from the layer's `plan.json`: the common
/// layer's for a variant without features, otherwise its layer's (which holds the common part
/// too, so it builds alone into a fresh target dir).
pub fn layer_steps(cargo: &str, layer_src: &Path, variant: &str) -> Result<Vec<Step>, BenchError> {
    let plan = PlanFile::read(layer_src)?;
    Ok(planned_steps(&plan, cargo, layer_src, variant)?)
}

fn planned_steps(
    plan: &PlanFile,
    cargo: &str,
    layer_src: &Path,
    variant: &str,
) -> Result<Vec<Step>, deps_layer::Error> {
    let planned = plan.variant(variant)?;
    let stack = plan.layer_stack(planned);
    Ok(stack
        .last()
        .into_iter()
        .flat_map(|(_, layer)| {
            let dir = layer_src.join(&layer.dir);
            layer.commands().map(move |args| {
                let args = plan.with_profile(args);
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                Step::new(cargo, &args, &dir).arg("--message-format=json")
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use deps_layer::variants::{Variant, Variants};

    use super::*;

    #[test]
    fn variant_feature_is_used_only_when_the_plan_gives_the_variant_a_layer() {
        let variants = Variants::from([
            ("cpu".to_string(), Variant::default()),
            ("cuda".to_string(), Variant::with_features(&["srv/cuda"])),
        ]);
        let plan = PlanFile::new(&variants, &["--workspace".into()], &BTreeMap::new(), "x");
        let lines = |variant| -> Vec<String> {
            planned_steps(&plan, "cargo", Path::new("/l"), variant)
                .unwrap()
                .iter()
                .map(Step::display)
                .collect()
        };
        assert_eq!(
            lines("cuda"),
            [
                "cargo check --profile release --locked --all-targets --features cuda --message-format=json",
                "cargo build --profile release --locked --features cuda --message-format=json",
                "cargo test --profile release --locked --no-run --features cuda --message-format=json",
            ]
        );
        assert!(lines("cpu").iter().all(|line| !line.contains("--features")));
        assert_eq!(lines("cpu").len(), 3);
        let err = planned_steps(&plan, "cargo", Path::new("/l"), "rocm")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown variant `rocm`"), "{err}");
    }
}
