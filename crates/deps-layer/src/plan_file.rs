//! `plan.json`, written next to the layer: the variants, their layers and the exact cargo command
//! lines of every layer and real build. The flake (`builtins.fromJSON`), `verify`, layer-bench
//! and cache-report read it instead of deciding any of it again, so they cannot drift apart.
//! Schema 1, documented in nix/README.md ("The plan"); these types both write and read it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::layer_settings::WORKSPACE_LAYER;
use crate::member_steps::MemberStep;
use crate::variants::Variants;

/// The file's name inside the layer folder.
pub const FILE: &str = "plan.json";
/// The schema this code writes and reads; a reader refuses any other.
pub const SCHEMA: u32 = 1;
/// The cargo profile of every layer and real build (crane's `CARGO_PROFILE`).
pub const PROFILE: &str = "release";
/// The layer every variant shares; a variant without features builds on it alone.
pub const COMMON: &str = "common";
/// The folder, inside the layer folder, of each layer's own crate (`<LAYERS_DIR>/<layer>`).
pub const LAYERS_DIR: &str = "layers";
/// A plan's `pname` when the selection is not one package.
pub const WORKSPACE_PNAME: &str = "workspace";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanFile {
    /// The generated-file header (JSON has no comments).
    pub generated: String,
    pub schema: u32,
    pub profile: String,
    pub layers: BTreeMap<String, LayerPlan>,
    pub variants: BTreeMap<String, VariantPlan>,
    /// Every workspace member: package name -> its manifest, relative to the root.
    #[serde(default)]
    pub members: BTreeMap<String, String>,
    /// The opt-in checks over every member (`workspace-checks` in
    /// `[workspace.metadata.deps-layer]`); absent when off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_checks: Option<WorkspaceChecks>,
}

/// clippy and nextest over `--workspace`, on a layer of their own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceChecks {
    /// A key of [`PlanFile::layers`], stacked on the common layer.
    pub layer: String,
    /// The checks' cargo arguments after the subcommand.
    pub cargo_args: Vec<String>,
    /// The same, shell-quoted: crane's `cargoExtraArgs`.
    pub cargo_extra_args: String,
    /// The flake's `checks` attribute names.
    pub outputs: WorkspaceCheckOutputs,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceCheckOutputs {
    pub clippy: String,
    pub nextest: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerPlan {
    /// The layer's source folder, relative to the folder holding plan.json.
    pub dir: String,
    /// The flake's attribute name of the layer's derivation.
    pub output: String,
    /// The layer whose artifacts this one starts from.
    pub stacks_on: Option<String>,
    /// Cargo argument lists (subcommand first, no `--profile`), run in order.
    pub build_commands: Vec<Vec<String>>,
    pub check_commands: Vec<Vec<String>>,
    /// The same commands as crane runs them (its `buildPhaseCargoCommand` and
    /// `checkPhaseCargoCommand`), so that the flake renders nothing: see [`crane_commands`].
    pub build_phase_cargo_command: String,
    pub check_phase_cargo_command: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VariantPlan {
    pub features: Vec<String>,
    /// The real build's package selection.
    pub selection: Vec<String>,
    /// A key of [`PlanFile::layers`].
    pub layer: String,
    /// The real build's and its checks' cargo arguments after the subcommand.
    pub cargo_args: Vec<String>,
    /// The same, shell-quoted: crane's `cargoExtraArgs`.
    pub cargo_extra_args: String,
    pub pname: String,
    /// The one binary the selection builds; None when it builds none or several.
    pub main_program: Option<String>,
    /// The manifest of the package the selection names, relative to the workspace root (the
    /// flake reads the package's version there, so a version bump needs no new plan); None when
    /// the selection is not one package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    pub outputs: Outputs,
    /// The members the build compiles, in the order the flake's chain of member steps compiles
    /// them; the last step is the package.
    #[serde(default)]
    pub member_steps: Vec<MemberStep>,
}

/// The flake's attribute names for a variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outputs {
    pub package: String,
    /// The layer's own output (`deps-common` for a variant without features).
    pub layer: String,
    /// The same layer by the variant's name, `deps-<variant>`.
    pub variant_layer: String,
    pub image: String,
    pub shell: String,
    pub checks: CheckOutputs,
}

/// The flake's `checks` attribute names for a variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckOutputs {
    pub package: String,
    pub clippy: String,
    pub nextest: String,
    /// Fails when the package compiled an external unit its layer should have held.
    pub layer: String,
}

/// `--features a,b`, or nothing.
fn feature_args(features: &[String]) -> Vec<String> {
    if features.is_empty() {
        Vec::new()
    } else {
        vec!["--features".into(), features.join(",")]
    }
}

/// Argument lists as one shell line each, the way crane runs them: `cargoWithProfile` puts
/// `--profile $CARGO_PROFILE` after the subcommand, as [`PlanFile::with_profile`] does here.
pub fn crane_commands(commands: &[Vec<String>]) -> String {
    commands
        .iter()
        .map(|args| format!("cargoWithProfile {}\n", shell_words(args)))
        .collect()
}

fn shell_words(args: &[String]) -> String {
    args.iter()
        .map(|arg| crate::shell::word(arg))
        .collect::<Vec<_>>()
        .join(" ")
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| item.to_string()).collect()
}

/// crane's `buildDepsOnly` commands for the layer's feature (none for the common layer); every
/// layer but the common one stacks on it.
fn layer_plan(name: &str, feature: Option<&str>) -> LayerPlan {
    let with = |head: &[&str]| {
        let mut args = strings(head);
        args.extend(feature_args(
            &feature.map(str::to_string).into_iter().collect::<Vec<_>>(),
        ));
        args
    };
    let build_commands = vec![
        with(&["check", "--locked", "--all-targets"]),
        with(&["build", "--locked"]),
    ];
    let check_commands = vec![with(&["test", "--locked", "--no-run"])];
    LayerPlan {
        dir: format!("{LAYERS_DIR}/{name}"),
        output: format!("deps-{name}"),
        stacks_on: (name != COMMON).then(|| COMMON.to_string()),
        build_phase_cargo_command: crane_commands(&build_commands),
        check_phase_cargo_command: crane_commands(&check_commands),
        build_commands,
        check_commands,
    }
}

impl PlanFile {
    /// The plan of `variants`. `cli_selection` is the selection of variants that name no
    /// packages; `binaries` maps each variant to the binary targets its real build compiles.
    pub fn new(
        variants: &Variants,
        cli_selection: &[String],
        binaries: &BTreeMap<String, BTreeSet<String>>,
        regenerate: &str,
    ) -> PlanFile {
        let mut layers = BTreeMap::from([(COMMON.to_string(), layer_plan(COMMON, None))]);
        let mut planned = BTreeMap::new();
        for (name, variant) in variants {
            let layer = if variant.features.is_empty() {
                COMMON.to_string()
            } else {
                layers.insert(name.clone(), layer_plan(name, Some(name)));
                name.clone()
            };
            let selection = variant.selection(cli_selection);
            let mut cargo_args = vec!["--locked".to_string()];
            cargo_args.extend(selection.iter().cloned());
            cargo_args.extend(feature_args(&variant.features));
            let package = match selection.as_slice() {
                [flag, package] if flag == "--package" => package.clone(),
                _ => WORKSPACE_PNAME.to_string(),
            };
            let pname = if variant.features.is_empty() {
                package
            } else {
                format!("{package}-{name}")
            };
            let main_program = match binaries.get(name) {
                Some(bins) if bins.len() == 1 => bins.first().cloned(),
                _ => None,
            };
            let outputs = Outputs {
                package: name.clone(),
                layer: format!("deps-{layer}"),
                variant_layer: format!("deps-{name}"),
                image: format!("image-{name}"),
                shell: name.clone(),
                checks: CheckOutputs {
                    package: format!("package-{name}"),
                    clippy: format!("clippy-{name}"),
                    nextest: format!("nextest-{name}"),
                    layer: format!("layer-{name}"),
                },
            };
            planned.insert(
                name.clone(),
                VariantPlan {
                    features: variant.features.clone(),
                    selection,
                    layer,
                    cargo_extra_args: shell_words(&cargo_args),
                    cargo_args,
                    pname,
                    main_program,
                    manifest: None,
                    outputs,
                    member_steps: Vec::new(),
                },
            );
        }
        PlanFile {
            generated: format!(
                "Generated by deps-layer from the workspace's Cargo.toml and Cargo.lock; do not edit. \
                 Regenerate with: {regenerate}"
            ),
            schema: SCHEMA,
            profile: PROFILE.to_string(),
            layers,
            variants: planned,
            members: BTreeMap::new(),
            workspace_checks: None,
        }
    }

    /// Adds the checks over every member and their layer, [`WORKSPACE_LAYER`], whose crate
    /// compiles what `--workspace` without features compiles and no variant's build does.
    pub fn add_workspace_checks(&mut self) {
        self.layers.insert(
            WORKSPACE_LAYER.to_string(),
            layer_plan(WORKSPACE_LAYER, None),
        );
        let cargo_args = strings(&["--locked", "--workspace"]);
        self.workspace_checks = Some(WorkspaceChecks {
            layer: WORKSPACE_LAYER.to_string(),
            cargo_extra_args: shell_words(&cargo_args),
            cargo_args,
            outputs: WorkspaceCheckOutputs {
                clippy: "clippy".to_string(),
                nextest: "nextest".to_string(),
            },
        });
    }

    /// Records every member's manifest (package name -> path relative to the workspace root)
    /// and, for each variant whose selection is one package, that package's.
    pub fn set_manifests(&mut self, manifests: &BTreeMap<String, String>) {
        self.members = manifests.clone();
        for variant in self.variants.values_mut() {
            variant.manifest = match variant.selection.as_slice() {
                [flag, package] if flag == "--package" => manifests.get(package).cloned(),
                _ => None,
            };
        }
    }

    /// Records each variant's member steps, from its build's units.
    pub fn set_member_steps(
        &mut self,
        metadata: &crate::metadata::Metadata,
        units: &BTreeMap<String, crate::layer_contents::VariantUnits>,
        grouping: crate::layer_settings::StepGrouping,
    ) {
        for (name, variant) in &mut self.variants {
            let Some(units) = units.get(name) else {
                continue;
            };
            let package = variant.outputs.package.clone();
            variant.member_steps =
                crate::member_steps::member_steps(metadata, units, grouping, |member, last| {
                    if last {
                        package.clone()
                    } else {
                        format!("{package}-member-{member}")
                    }
                });
        }
    }

    /// Pretty-printed, keys in a fixed order, trailing newline: byte-for-byte reproducible.
    pub fn render(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    pub fn parse(path: &Path, text: &str) -> Result<PlanFile> {
        let plan: PlanFile = serde_json::from_str(text).map_err(|err| Error::Parse {
            path: path.to_path_buf(),
            message: err.to_string(),
        })?;
        if plan.schema != SCHEMA {
            return Err(Error::Parse {
                path: path.to_path_buf(),
                message: format!(
                    "schema {} is not the schema {SCHEMA} this deps-layer reads; regenerate the layer",
                    plan.schema
                ),
            });
        }
        for (name, variant) in &plan.variants {
            if !plan.layers.contains_key(&variant.layer) {
                return Err(Error::Parse {
                    path: path.to_path_buf(),
                    message: format!(
                        "variant `{name}` names layer `{}`, which it lacks",
                        variant.layer
                    ),
                });
            }
        }
        if let Some(checks) = &plan.workspace_checks
            && !plan.layers.contains_key(&checks.layer)
        {
            return Err(Error::Parse {
                path: path.to_path_buf(),
                message: format!(
                    "workspaceChecks names layer `{}`, which it lacks",
                    checks.layer
                ),
            });
        }
        Ok(plan)
    }

    /// Reads `plan.json` from a layer folder.
    pub fn read(layer_dir: &Path) -> Result<PlanFile> {
        let path = layer_dir.join(FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        PlanFile::parse(&path, &text)
    }

    pub fn variant(&self, name: &str) -> Result<&VariantPlan> {
        self.variants
            .get(name)
            .ok_or_else(|| Error::UnknownVariant {
                variant: name.to_string(),
                known: self.variants.keys().cloned().collect::<Vec<_>>().join(", "),
            })
    }

    /// The layers a variant's build starts from, the one it stacks on first.
    pub fn layer_stack(&self, variant: &VariantPlan) -> Vec<(&str, &LayerPlan)> {
        self.stack_of(&variant.layer)
    }

    /// The layer `name` and those it stacks on, the bottom one first.
    pub fn stack_of(&self, name: &str) -> Vec<(&str, &LayerPlan)> {
        let mut stack = Vec::new();
        let mut next = Some(name);
        while let Some(name) = next {
            let Some((name, layer)) = self.layers.get_key_value(name) else {
                break;
            };
            if stack.iter().any(|(seen, _)| *seen == name.as_str()) {
                break;
            }
            stack.push((name.as_str(), layer));
            next = layer.stacks_on.as_deref();
        }
        stack.reverse();
        stack
    }

    /// A planned argument list as cargo runs it: `--profile <profile>` right after the
    /// subcommand, as crane's `cargoWithProfile` does.
    pub fn with_profile(&self, args: &[String]) -> Vec<String> {
        let mut full = Vec::with_capacity(args.len() + 2);
        full.extend(args.first().cloned());
        full.extend(["--profile".to_string(), self.profile.clone()]);
        full.extend(args.iter().skip(1).cloned());
        full
    }
}

impl LayerPlan {
    /// Build then check commands, in the order crane runs them.
    pub fn commands(&self) -> impl Iterator<Item = &Vec<String>> {
        self.build_commands.iter().chain(&self.check_commands)
    }
}

impl WorkspaceChecks {
    /// What the checks compile, as verify runs it: clippy over every target, and the tests
    /// nextest builds (`cargo test --no-run`'s units).
    pub fn real_build_commands(&self) -> Vec<Vec<String>> {
        let make = |sub: &str, tail: &[&str]| {
            let mut args = vec![sub.to_string()];
            args.extend(self.cargo_args.iter().cloned());
            args.extend(strings(tail));
            args
        };
        vec![
            make("clippy", &["--all-targets"]),
            make("test", &["--no-run"]),
        ]
    }
}

impl VariantPlan {
    /// The real build's commands (without `--profile`): crane's `buildPackage` builds, its checks
    /// compile the tests, and with `clippy` the flake's clippy check.
    pub fn real_build_commands(&self, clippy: bool) -> Vec<Vec<String>> {
        let make = |sub: &str, tail: &[&str]| {
            let mut args = vec![sub.to_string()];
            args.extend(self.cargo_args.iter().cloned());
            args.extend(strings(tail));
            args
        };
        let mut commands = vec![make("build", &[]), make("test", &["--no-run"])];
        if clippy {
            commands.push(make("clippy", &["--all-targets"]));
        }
        commands
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variants::Variant;

    fn bins(entries: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
        entries
            .iter()
            .map(|(variant, names)| {
                (
                    variant.to_string(),
                    names.iter().map(|name| name.to_string()).collect(),
                )
            })
            .collect()
    }

    fn two_variants() -> PlanFile {
        let variants = Variants::from([
            (
                "cpu".to_string(),
                Variant {
                    features: Vec::new(),
                    packages: Some(vec!["server".into()]),
                },
            ),
            (
                "cuda".to_string(),
                Variant {
                    features: vec!["server/cuda".into(), "server/fast".into()],
                    packages: Some(vec!["server".into()]),
                },
            ),
        ]);
        PlanFile::new(
            &variants,
            &["--workspace".to_string()],
            &bins(&[("cpu", &["server"]), ("cuda", &["server"])]),
            "deps-layer generate --out nix/deps",
        )
    }

    #[test]
    fn a_two_variant_plan_has_the_schema_s_fields() {
        let plan = two_variants();
        assert_eq!(plan.schema, 1);
        assert_eq!(plan.profile, "release");
        assert!(
            plan.generated
                .ends_with("Regenerate with: deps-layer generate --out nix/deps")
        );
        assert_eq!(plan.layers.keys().collect::<Vec<_>>(), ["common", "cuda"]);
        let common = &plan.layers["common"];
        assert_eq!(common.dir, "layers/common");
        assert_eq!(common.output, "deps-common");
        assert_eq!(common.stacks_on, None);
        assert_eq!(
            common.build_commands,
            [
                strings(&["check", "--locked", "--all-targets"]),
                strings(&["build", "--locked"])
            ]
        );
        assert_eq!(
            common.check_commands,
            [strings(&["test", "--locked", "--no-run"])]
        );
        let cuda = &plan.layers["cuda"];
        assert_eq!(cuda.output, "deps-cuda");
        assert_eq!(cuda.stacks_on.as_deref(), Some("common"));
        assert_eq!(
            cuda.build_commands[1],
            strings(&["build", "--locked", "--features", "cuda"])
        );
        assert_eq!(
            cuda.check_commands,
            [strings(&[
                "test",
                "--locked",
                "--no-run",
                "--features",
                "cuda"
            ])]
        );

        let cpu = &plan.variants["cpu"];
        assert_eq!(cpu.selection, ["--package", "server"]);
        assert_eq!(cpu.layer, "common");
        assert_eq!(cpu.cargo_args, ["--locked", "--package", "server"]);
        assert_eq!(cpu.pname, "server");
        assert_eq!(cpu.main_program.as_deref(), Some("server"));
        assert_eq!(
            cpu.outputs,
            Outputs {
                package: "cpu".into(),
                layer: "deps-common".into(),
                variant_layer: "deps-cpu".into(),
                image: "image-cpu".into(),
                shell: "cpu".into(),
                checks: CheckOutputs {
                    package: "package-cpu".into(),
                    clippy: "clippy-cpu".into(),
                    nextest: "nextest-cpu".into(),
                    layer: "layer-cpu".into(),
                },
            }
        );
        let gpu = &plan.variants["cuda"];
        assert_eq!(gpu.layer, "cuda");
        assert_eq!(
            gpu.cargo_args,
            [
                "--locked",
                "--package",
                "server",
                "--features",
                "server/cuda,server/fast"
            ]
        );
        assert_eq!(gpu.pname, "server-cuda");
        assert_eq!(gpu.outputs.layer, "deps-cuda");
        assert_eq!(gpu.outputs.image, "image-cuda");
    }

    #[test]
    fn crane_s_commands_are_rendered_here_quoted_only_where_needed() {
        let plan = two_variants();
        let cuda = &plan.layers["cuda"];
        assert_eq!(
            cuda.build_phase_cargo_command,
            "cargoWithProfile check --locked --all-targets --features cuda\n\
             cargoWithProfile build --locked --features cuda\n"
        );
        assert_eq!(
            cuda.check_phase_cargo_command,
            "cargoWithProfile test --locked --no-run --features cuda\n"
        );
        assert_eq!(
            plan.variants["cpu"].cargo_extra_args,
            "--locked --package server"
        );
        assert_eq!(
            crane_commands(&[strings(&["build", "--features", "a b", "it's"])]),
            "cargoWithProfile build --features 'a b' 'it'\\''s'\n"
        );
    }

    #[test]
    fn round_trips_through_its_text() {
        let plan = two_variants();
        let text = plan.render();
        assert!(text.ends_with("}\n"), "{text}");
        assert!(text.contains("\n  \"schema\": 1,\n"), "{text}");
        assert!(text.contains("\"stacksOn\": \"common\""), "{text}");
        assert!(text.contains("\"mainProgram\": \"server\""), "{text}");
        let read = PlanFile::parse(Path::new("plan.json"), &text).unwrap();
        assert_eq!(read, plan);
        assert_eq!(read.render(), text);
    }

    #[test]
    fn a_variant_without_features_uses_the_common_layer_and_the_cli_selection() {
        let variants = Variants::from([("default".to_string(), Variant::default())]);
        let selection = strings(&["--package", "a", "--package", "b"]);
        let plan = PlanFile::new(
            &variants,
            &selection,
            &bins(&[("default", &["a", "b"])]),
            "x",
        );
        assert_eq!(plan.layers.keys().collect::<Vec<_>>(), ["common"]);
        let variant = &plan.variants["default"];
        assert_eq!(variant.layer, "common");
        assert_eq!(variant.selection, selection);
        // Several packages: the workspace's name, and no single program.
        assert_eq!(variant.pname, "workspace");
        assert_eq!(variant.main_program, None);
        assert_eq!(plan.layer_stack(variant).len(), 1);
    }

    #[test]
    fn pname_is_the_single_package_or_workspace_suffixed_by_a_featured_variant() {
        let variants = Variants::from([
            ("all".to_string(), Variant::with_features(&["x/gpu"])),
            (
                "one".to_string(),
                Variant {
                    features: Vec::new(),
                    packages: Some(vec!["tool".into()]),
                },
            ),
            (
                "two".to_string(),
                Variant {
                    features: vec!["x/gpu".into()],
                    packages: Some(vec!["tool".into(), "x".into()]),
                },
            ),
        ]);
        let plan = PlanFile::new(&variants, &strings(&["--workspace"]), &BTreeMap::new(), "x");
        assert_eq!(plan.variants["all"].pname, "workspace-all");
        assert_eq!(plan.variants["all"].selection, ["--workspace"]);
        assert_eq!(plan.variants["one"].pname, "tool");
        assert_eq!(plan.variants["two"].pname, "workspace-two");
        // No binary built: no main program.
        assert_eq!(plan.variants["one"].main_program, None);
    }

    #[test]
    fn readers_get_the_stack_and_the_profile_placed_as_crane_does() {
        let plan = two_variants();
        let stack: Vec<&str> = plan
            .layer_stack(plan.variant("cuda").unwrap())
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(stack, ["common", "cuda"]);
        assert_eq!(
            plan.with_profile(&strings(&["build", "--locked"])),
            ["build", "--profile", "release", "--locked"]
        );
        assert_eq!(
            plan.variants["cuda"].real_build_commands(true)[2],
            strings(&[
                "clippy",
                "--locked",
                "--package",
                "server",
                "--features",
                "server/cuda,server/fast",
                "--all-targets"
            ])
        );
        let err = plan.variant("rocm").unwrap_err().to_string();
        assert!(err.contains("unknown variant `rocm`"), "{err}");
        assert!(err.contains("cpu, cuda"), "{err}");
    }

    #[test]
    fn the_checks_over_every_member_get_a_stacked_layer_and_real_commands() {
        let mut plan = two_variants();
        plan.add_workspace_checks();
        let stack: Vec<&str> = plan
            .stack_of(WORKSPACE_LAYER)
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(stack, ["common", WORKSPACE_LAYER]);
        let layer = &plan.layers[WORKSPACE_LAYER];
        assert_eq!(layer.build_commands[1], strings(&["build", "--locked"]));
        let checks = plan.workspace_checks.as_ref().unwrap();
        assert_eq!(
            checks.real_build_commands(),
            [
                strings(&["clippy", "--locked", "--workspace", "--all-targets"]),
                strings(&["test", "--locked", "--workspace", "--no-run"])
            ]
        );
        let reread = PlanFile::parse(Path::new("p.json"), &plan.render()).unwrap();
        assert_eq!(reread, plan);
        let mut broken = plan.clone();
        broken.layers.remove(WORKSPACE_LAYER);
        let err = PlanFile::parse(Path::new("p.json"), &broken.render())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("workspaceChecks names layer `workspace`"),
            "{err}"
        );
    }

    #[test]
    fn refuses_another_schema_or_a_missing_layer() {
        let mut plan = two_variants();
        plan.schema = 2;
        let err = PlanFile::parse(Path::new("p.json"), &plan.render())
            .unwrap_err()
            .to_string();
        assert!(err.contains("p.json"), "{err}");
        assert!(err.contains("schema 2"), "{err}");
        let mut plan = two_variants();
        plan.layers.remove("cuda");
        let err = PlanFile::parse(Path::new("p.json"), &plan.render())
            .unwrap_err()
            .to_string();
        assert!(err.contains("variant `cuda` names layer `cuda`"), "{err}");
    }

    #[test]
    fn a_one_package_selection_names_that_package_manifest() {
        let variants = Variants::from([
            ("cpu".to_string(), Variant::default()),
            ("cuda".to_string(), Variant::with_features(&["srv/cuda"])),
        ]);
        let manifests = BTreeMap::from([("srv".to_string(), "crates/srv/Cargo.toml".to_string())]);
        let mut whole = PlanFile::new(&variants, &["--workspace".into()], &BTreeMap::new(), "x");
        whole.set_manifests(&manifests);
        assert_eq!(whole.variants["cpu"].manifest, None);
        let mut one = PlanFile::new(
            &variants,
            &["--package".into(), "srv".into()],
            &BTreeMap::new(),
            "x",
        );
        one.set_manifests(&manifests);
        assert_eq!(
            one.variants["cuda"].manifest.as_deref(),
            Some("crates/srv/Cargo.toml")
        );
        assert!(
            one.render()
                .contains("\"manifest\": \"crates/srv/Cargo.toml\"")
        );
    }
}
