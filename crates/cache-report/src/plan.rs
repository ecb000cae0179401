//! Which installables make up each group of the report. For a flake, one group per variant:
//! its layers, its package and its image, as far as `packages.<system>` has them. With the
//! flake's variant plan (`plan.json` of deps-layer) those names are the plan's; without one
//! (a remote flake), a variant is any `deps-<v>` package, grouped with `deps-common`, `<v>` and
//! `image-<v>`.

use std::path::{Path, PathBuf};

use deps_layer::plan_file::{FILE, PlanFile};

use crate::error::Error;

pub const COMMON_LAYER: &str = "deps-common";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// What `nix build` is given.
    pub installable: String,
    /// Short name in the report (the package attribute).
    pub label: String,
    /// A dependency layer: the report says whether the cache already has it.
    pub is_layer: bool,
}

pub fn variant_names(package_names: &[String]) -> Vec<String> {
    let mut variants: Vec<String> = package_names
        .iter()
        .filter(|name| name.as_str() != COMMON_LAYER)
        .filter_map(|name| name.strip_prefix("deps-"))
        .map(str::to_string)
        .collect();
    variants.sort();
    variants
}

pub fn flake_groups(
    flake: &str,
    system: &str,
    package_names: &[String],
    only: &[String],
) -> Result<Vec<Group>, Error> {
    let available = variant_names(package_names);
    if available.is_empty() {
        return Err(Error::NoVariants {
            system: system.to_string(),
            flake: flake.to_string(),
        });
    }
    for variant in only {
        if !available.contains(variant) {
            return Err(Error::UnknownVariant {
                variant: variant.clone(),
                system: system.to_string(),
                flake: flake.to_string(),
                found: available.join(", "),
            });
        }
    }
    let has = |name: &str| package_names.iter().any(|candidate| candidate == name);
    let member = |name: String, is_layer: bool| Member {
        installable: format!("{flake}#packages.{system}.{name}"),
        label: name,
        is_layer,
    };
    Ok(available
        .into_iter()
        .filter(|variant| only.is_empty() || only.contains(variant))
        .map(|variant| {
            let mut members = Vec::new();
            if has(COMMON_LAYER) {
                members.push(member(COMMON_LAYER.to_string(), true));
            }
            members.push(member(format!("deps-{variant}"), true));
            for name in [variant.clone(), format!("image-{variant}")] {
                if has(&name) {
                    members.push(member(name, false));
                }
            }
            Group {
                name: variant,
                members,
            }
        })
        .collect())
}

/// Where a local flake keeps its variant plan (deps-layer's default output folder), if it has one;
/// None for a remote flake reference.
pub fn local_plan_path(flake: &str) -> Option<PathBuf> {
    let dir = flake.strip_prefix("path:").unwrap_or(flake);
    let is_local = dir.starts_with('/') || dir.starts_with('.') || flake.starts_with("path:");
    let path = Path::new(dir)
        .join(deps_layer::generate::DEFAULT_OUT)
        .join(FILE);
    (is_local && path.is_file()).then_some(path)
}

/// One group per variant of the plan: the flake outputs of its layers (the one it stacks on
/// first), its package and its image, each as far as `packages.<system>` has it.
pub fn plan_groups(
    flake: &str,
    system: &str,
    plan: &PlanFile,
    plan_path: &Path,
    package_names: &[String],
    only: &[String],
) -> Result<Vec<Group>, Error> {
    for variant in only {
        if !plan.variants.contains_key(variant) {
            return Err(Error::UnknownPlannedVariant {
                variant: variant.clone(),
                plan: plan_path.display().to_string(),
                found: plan.variants.keys().cloned().collect::<Vec<_>>().join(", "),
            });
        }
    }
    let has = |name: &str| package_names.iter().any(|candidate| candidate == name);
    let member = |name: &str, is_layer: bool| Member {
        installable: format!("{flake}#packages.{system}.{name}"),
        label: name.to_string(),
        is_layer,
    };
    Ok(plan
        .variants
        .iter()
        .filter(|(name, _)| only.is_empty() || only.contains(name))
        .map(|(name, variant)| {
            let layers = plan
                .layer_stack(variant)
                .into_iter()
                .map(|(_, layer)| (layer.output.as_str(), true));
            let shipped = [
                variant.outputs.package.as_str(),
                variant.outputs.image.as_str(),
            ]
            .into_iter()
            .map(|output| (output, false));
            Group {
                name: name.clone(),
                members: layers
                    .chain(shipped)
                    .filter(|(output, _)| has(output))
                    .map(|(output, is_layer)| member(output, is_layer))
                    .collect(),
            }
        })
        .collect())
}

/// Installables given by hand: one group; `layers` are reported as dependency layers.
pub fn installables_group(installables: &[String], layers: &[String]) -> Group {
    let members = layers
        .iter()
        .map(|installable| (installable, true))
        .chain(installables.iter().map(|installable| (installable, false)))
        .map(|(installable, is_layer)| Member {
            installable: installable.clone(),
            label: installable.clone(),
            is_layer,
        })
        .collect();
    Group {
        name: "installables".to_string(),
        members,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn a_variant_is_a_deps_package_other_than_the_common_layer() {
        let packages = names(&[
            "default",
            "deps-common",
            "deps-rocm",
            "deps-cpu",
            "cpu",
            "rocm",
        ]);
        assert_eq!(variant_names(&packages), names(&["cpu", "rocm"]));
    }

    #[test]
    fn each_variant_lists_both_layers_then_its_package_and_image() {
        let packages = names(&["deps-common", "deps-cuda", "cuda", "image-cuda", "default"]);
        let groups = flake_groups(".", "x86_64-linux", &packages, &[]).unwrap();
        assert_eq!(groups.len(), 1);
        let members: Vec<(&str, bool)> = groups[0]
            .members
            .iter()
            .map(|m| (m.label.as_str(), m.is_layer))
            .collect();
        assert_eq!(
            members,
            [
                ("deps-common", true),
                ("deps-cuda", true),
                ("cuda", false),
                ("image-cuda", false)
            ]
        );
        assert_eq!(
            groups[0].members[1].installable,
            ".#packages.x86_64-linux.deps-cuda"
        );
    }

    #[test]
    fn a_missing_image_or_common_layer_is_left_out() {
        let packages = names(&["deps-cpu", "cpu"]);
        let groups = flake_groups("github:o/r", "aarch64-linux", &packages, &[]).unwrap();
        let labels: Vec<&str> = groups[0].members.iter().map(|m| m.label.as_str()).collect();
        assert_eq!(labels, ["deps-cpu", "cpu"]);
    }

    #[test]
    fn selecting_variants_keeps_only_those() {
        let packages = names(&["deps-common", "deps-cpu", "deps-cuda", "deps-rocm"]);
        let only = names(&["rocm", "cpu"]);
        let groups = flake_groups(".", "x86_64-linux", &packages, &only).unwrap();
        let selected: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(selected, ["cpu", "rocm"]);
    }

    #[test]
    fn an_unknown_variant_is_named_with_the_ones_that_exist() {
        let packages = names(&["deps-common", "deps-cpu", "deps-rocm"]);
        let error = flake_groups(".", "aarch64-linux", &packages, &names(&["rocm", "cuda"]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("no variant `cuda`"), "{error}");
        assert!(error.contains("packages.aarch64-linux"), "{error}");
        assert!(error.contains("cpu, rocm"), "{error}");
    }

    fn planned() -> PlanFile {
        use deps_layer::variants::{Variant, Variants};
        let variants = Variants::from([
            ("cpu".to_string(), Variant::default()),
            ("cuda".to_string(), Variant::with_features(&["srv/cuda"])),
        ]);
        PlanFile::new(&variants, &["--workspace".into()], &Default::default(), "x")
    }

    #[test]
    fn with_a_plan_each_variant_lists_its_planned_layers_package_and_image() {
        let packages = names(&[
            "deps-common",
            "deps-cuda",
            "cpu",
            "cuda",
            "image-cpu",
            "default",
        ]);
        let groups = plan_groups(
            ".",
            "x86_64-linux",
            &planned(),
            Path::new("p"),
            &packages,
            &[],
        )
        .unwrap();
        let listed: Vec<(&str, Vec<(&str, bool)>)> = groups
            .iter()
            .map(|group| {
                (
                    group.name.as_str(),
                    group
                        .members
                        .iter()
                        .map(|m| (m.label.as_str(), m.is_layer))
                        .collect(),
                )
            })
            .collect();
        // cpu has no layer of its own; cuda's image is not a package here.
        assert_eq!(
            listed,
            [
                (
                    "cpu",
                    vec![("deps-common", true), ("cpu", false), ("image-cpu", false)]
                ),
                (
                    "cuda",
                    vec![("deps-common", true), ("deps-cuda", true), ("cuda", false)]
                ),
            ]
        );
        assert_eq!(
            groups[1].members[1].installable,
            ".#packages.x86_64-linux.deps-cuda"
        );
    }

    #[test]
    fn with_a_plan_an_unknown_variant_is_named_with_the_planned_ones() {
        let error = plan_groups(
            ".",
            "x86_64-linux",
            &planned(),
            Path::new("nix/deps/plan.json"),
            &[],
            &names(&["rocm"]),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("no variant `rocm`"), "{error}");
        assert!(error.contains("nix/deps/plan.json"), "{error}");
        assert!(error.contains("cpu, cuda"), "{error}");
    }

    #[test]
    fn only_a_local_flake_with_a_plan_file_has_a_plan_path() {
        let dir = tempfile::tempdir().unwrap();
        let flake = dir.path().display().to_string();
        assert_eq!(local_plan_path(&flake), None);
        std::fs::create_dir_all(dir.path().join("nix/deps")).unwrap();
        std::fs::write(dir.path().join("nix/deps/plan.json"), "{}").unwrap();
        assert_eq!(
            local_plan_path(&flake),
            Some(dir.path().join("nix/deps/plan.json"))
        );
        assert_eq!(
            local_plan_path(&format!("path:{flake}")),
            local_plan_path(&flake)
        );
        assert_eq!(local_plan_path("github:o/r"), None);
    }

    #[test]
    fn a_flake_without_layers_is_an_error() {
        let error = flake_groups(".", "x86_64-linux", &names(&["default"]), &[]).unwrap_err();
        assert!(matches!(error, Error::NoVariants { .. }), "{error}");
    }
}
