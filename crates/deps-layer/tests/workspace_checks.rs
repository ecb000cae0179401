//! The opt-in checks over every member (`workspace-checks = true`): a layer of their own,
//! stacked on the common one, that leaves every other layer's files as they were and serves
//! `cargo clippy --workspace --all-targets` and the test build with no external unit compiled.

mod common;

use common::Fixture;
use deps_layer::generate::Layer;
use deps_layer::layer_settings::WORKSPACE_LAYER;
use deps_layer::plan_file::{COMMON, PlanFile};

/// The selection fixture with one variant that ships only `app`: `testkit`, which no variant
/// ships, turns on core-lib's `test-utils` (fastrand, smallvec's `write`).
fn app_only() -> Fixture {
    let fixture = Fixture::new("selection");
    let manifest = fixture.read("Cargo.toml");
    fixture.write(
        "Cargo.toml",
        &format!("{manifest}\n[workspace.metadata.variants]\ncpu = {{ packages = [\"app\"] }}\n"),
    );
    fixture
}

fn opt_in(fixture: &Fixture) {
    let manifest = fixture.read("Cargo.toml");
    fixture.write(
        "Cargo.toml",
        &format!("{manifest}\n[workspace.metadata.deps-layer]\nworkspace-checks = true\n"),
    );
}

fn under<'a>(layer: &'a Layer, dir: &str) -> Vec<(&'a String, &'a String)> {
    layer
        .files
        .iter()
        .filter(|(path, _)| path.starts_with(&format!("{dir}/")))
        .collect()
}

#[test]
fn the_opt_in_adds_its_own_layer_and_changes_no_other_file() {
    let fixture = app_only();
    let off = fixture.generate();
    opt_in(&fixture);
    let on = fixture.generate();

    let plan = PlanFile::parse(std::path::Path::new("plan.json"), &on.files["plan.json"]).unwrap();
    let checks = plan.workspace_checks.as_ref().expect("workspaceChecks");
    assert_eq!(checks.layer, WORKSPACE_LAYER);
    assert_eq!(checks.cargo_args, ["--locked", "--workspace"]);
    let layer = &plan.layers[WORKSPACE_LAYER];
    assert_eq!(layer.stacks_on.as_deref(), Some(COMMON));
    assert_eq!(layer.output, "deps-workspace");
    let off_plan =
        PlanFile::parse(std::path::Path::new("plan.json"), &off.files["plan.json"]).unwrap();
    assert!(off_plan.workspace_checks.is_none());
    assert!(!off.files["plan.json"].contains("workspaceChecks"));

    // Every file of the layer folder but the plan and the new layer is byte for byte the same:
    // the common layer's key does not move with the opt-in.
    let outside = |layer: &Layer| -> Vec<(String, String)> {
        layer
            .files
            .iter()
            .filter(|(path, _)| {
                *path != "plan.json" && !path.starts_with(&format!("layers/{WORKSPACE_LAYER}/"))
            })
            .map(|(path, content)| (path.clone(), content.clone()))
            .collect()
    };
    assert_eq!(outside(&off), outside(&on));
    assert!(under(&off, &format!("layers/{WORKSPACE_LAYER}")).is_empty());

    // The new layer holds what only the member no variant ships needs.
    let manifest = &on.files[&format!("layers/{WORKSPACE_LAYER}/Cargo.toml")];
    assert!(manifest.contains("fastrand"), "{manifest}");
    assert!(manifest.contains("\"write\""), "{manifest}");
    let common = &on.files["layers/common/Cargo.toml"];
    assert!(!common.contains("fastrand"), "{common}");
    assert!(!common.contains("\"write\""), "{common}");
}

#[test]
fn the_checks_over_every_member_compile_no_external_unit() {
    let fixture = app_only();
    opt_in(&fixture);
    let reports = common::verify_fixture(&fixture, None, true, None);
    let names: Vec<&str> = reports
        .iter()
        .map(|report| report.variant.as_str())
        .collect();
    assert_eq!(names, ["cpu", WORKSPACE_LAYER]);
    common::assert_all_reused(&reports);
    let wide = &reports[1];
    let shown = wide.render();
    assert!(shown.starts_with("checks over every member"), "{shown}");
    // The layer added fastrand and smallvec with `write` on top of the common one, and the
    // real clippy and test builds compiled testkit, the member no variant ships.
    assert!(wide.delta_units.is_some_and(|units| units >= 2), "{shown}");
    let real = wide.phases.last().unwrap();
    assert!(real.local_compiled >= 3, "{shown}");
}

#[test]
fn a_variant_cannot_share_the_name_of_the_checks_layer() {
    let fixture = Fixture::new("selection");
    let manifest = fixture.read("Cargo.toml");
    fixture.write(
        "Cargo.toml",
        &format!(
            "{manifest}\n[workspace.metadata.variants]\n{WORKSPACE_LAYER} = {{ packages = [\"app\"] }}\n\
             [workspace.metadata.deps-layer]\nworkspace-checks = true\n"
        ),
    );
    let output = common::deps_layer(&[
        "generate",
        "--manifest-path",
        fixture.manifest().to_str().unwrap(),
    ]);
    let text = common::text(&output);
    assert!(!output.status.success(), "{text}");
    assert!(text.contains("[workspace.metadata.deps-layer]"), "{text}");
    assert!(text.contains("rename the variant"), "{text}");
    assert!(!fixture.path("nix/deps").exists());
}
