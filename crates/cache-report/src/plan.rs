//! Which installables make up each group of the report. For a flake, one group per variant:
//! its layers, its package and its image, as far as `packages.<system>` has them, under the
//! names of the flake's variant plan (`plan.json` of deps-layer): none is composed here.

use std::path::Path;

use deps_layer::plan_file::PlanFile;

use crate::error::Error;

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
    /// The variant's package, whose build reported whether it hit its layer
    /// (`nix-support/layer-report.json`).
    pub reports_layer: bool,
}

/// One group per variant of the plan: the flake outputs of its layers (the one it stacks on
/// first), its member steps before the package (the chain the package ends), its package and
/// its image, each as far as `packages.<system>` has it.
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
    let member = |name: &str, is_layer: bool, reports_layer: bool| Member {
        installable: format!("{flake}#packages.{system}.{name}"),
        label: name.to_string(),
        is_layer,
        reports_layer,
    };
    Ok(plan
        .variants
        .iter()
        .filter(|(name, _)| only.is_empty() || only.contains(name))
        .map(|(name, variant)| {
            let layers = plan
                .layer_stack(variant)
                .into_iter()
                .map(|(_, layer)| (layer.output.as_str(), true, false));
            let steps = variant
                .member_steps
                .iter()
                .map(|step| step.output.as_str())
                .filter(|output| *output != variant.outputs.package)
                .map(|output| (output, false, false));
            let shipped = [
                (variant.outputs.package.as_str(), false, true),
                (variant.outputs.image.as_str(), false, false),
            ];
            Group {
                name: name.clone(),
                members: layers
                    .chain(steps)
                    .chain(shipped)
                    .filter(|(output, _, _)| has(output))
                    .map(|(output, is_layer, reports_layer)| {
                        member(output, is_layer, reports_layer)
                    })
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
            reports_layer: false,
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

    fn planned() -> PlanFile {
        use deps_layer::member_steps::MemberStep;
        use deps_layer::variants::{Variant, Variants};
        let variants = Variants::from([
            ("cpu".to_string(), Variant::default()),
            ("cuda".to_string(), Variant::with_features(&["srv/cuda"])),
        ]);
        let mut plan = PlanFile::new(&variants, &["--workspace".into()], &Default::default(), "x");
        let step = |member: &str, output: &str| MemberStep {
            members: vec![member.to_string()],
            name: member.to_string(),
            output: output.to_string(),
            paths: vec![format!("crates/{member}")],
            targets: Vec::new(),
        };
        plan.variants.get_mut("cuda").unwrap().member_steps =
            vec![step("core", "cuda-member-core"), step("srv", "cuda")];
        plan
    }

    #[test]
    fn with_a_plan_each_variant_lists_its_planned_layers_package_and_image() {
        let packages = names(&[
            "deps-common",
            "deps-cuda",
            "cuda-member-core",
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
                    vec![
                        ("deps-common", true),
                        ("deps-cuda", true),
                        ("cuda-member-core", false),
                        ("cuda", false)
                    ]
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
}
