//! Each layer the flake builds is a slice of the generated crate (`layers/<layer>`, its own lock):
//! it compiles exactly the units the whole crate compiles for that layer's commands, and a change
//! to one variant's dependencies leaves every other slice byte for byte as it was.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::Fixture;
use deps_layer::cargo::Cargo;
use deps_layer::plan_file::{COMMON, PlanFile};
use deps_layer::unit_graph::{Mode, UnitGraph};

/// The external units of one command in a layer folder: package, mode, side, features.
fn external_units(dir: &Path, mode: Mode, features: &[String]) -> BTreeSet<String> {
    let cargo = Cargo {
        offline: true,
        ..Cargo::default()
    };
    UnitGraph::load(&cargo, dir, mode, &[], features)
        .unwrap()
        .classify()
        .into_iter()
        .filter(|classified| !classified.unit.pkg_id.starts_with("path+"))
        .map(|classified| {
            let unit = classified.unit;
            format!(
                "{} {} {:?} {:?}",
                unit.pkg_id, unit.mode, classified.side, unit.features
            )
        })
        .collect()
}

fn files_under(layer: &deps_layer::generate::Layer, dir: &str) -> Vec<(String, String)> {
    let prefix = format!("{dir}/");
    layer
        .files
        .iter()
        .filter(|(path, _)| path.starts_with(&prefix))
        .map(|(path, content)| (path.clone(), content.clone()))
        .collect()
}

#[test]
fn each_slice_compiles_what_the_whole_crate_compiles_for_its_layer() {
    let fixture = Fixture::new("basic");
    let layer = fixture.generate();
    let out = tempfile::tempdir().unwrap();
    let out = out.path().join("deps");
    deps_layer::generate::write_layer(&layer, &out).unwrap();
    let plan = PlanFile::read(&out).unwrap();
    assert_eq!(
        plan.layers.keys().collect::<Vec<_>>(),
        ["accel", "common", "simd"]
    );
    for (name, layer_plan) in &plan.layers {
        assert_eq!(layer_plan.dir, format!("layers/{name}"));
        let features: Vec<String> = if name == COMMON {
            Vec::new()
        } else {
            vec![name.clone()]
        };
        for mode in [Mode::Build, Mode::Test] {
            let whole = external_units(&out, mode, &features);
            let slice = external_units(&out.join(&layer_plan.dir), mode, &features);
            assert!(!whole.is_empty());
            assert_eq!(whole, slice, "layer {name}, {mode:?}");
        }
    }
    // Nothing of a variant reaches the other layers' slices, their locks included.
    let common = files_under(&layer, "layers/common");
    let accel = files_under(&layer, "layers/accel");
    let mentions = |files: &[(String, String)], what: &str| {
        files.iter().any(|(_, content)| content.contains(what))
    };
    assert!(!mentions(&common, "scopeguard") && !mentions(&common, "memchr"));
    assert!(mentions(&accel, "scopeguard") && !mentions(&accel, "memchr"));
    assert!(!mentions(&files_under(&layer, "layers/simd"), "scopeguard"));
}

#[test]
fn a_change_to_one_variants_dependencies_changes_only_its_slice() {
    let fixture = Fixture::new("basic");
    let before = fixture.generate();
    // accel's scopeguard gains a feature: only the accel variant compiles it.
    fixture.edit(
        "crates/core/Cargo.toml",
        "scopeguard = { version = \"1\", optional = true, default-features = false }",
        "scopeguard = { version = \"1\", optional = true, default-features = false, features = [\"use_std\"] }",
    );
    let after = fixture.generate();
    for unchanged in ["layers/common", "layers/simd"] {
        assert_eq!(
            files_under(&before, unchanged),
            files_under(&after, unchanged),
            "{unchanged}"
        );
    }
    assert_ne!(
        files_under(&before, "layers/accel"),
        files_under(&after, "layers/accel")
    );
    // The whole crate, which verify and layer-bench build, follows the change too.
    assert_ne!(before.files["Cargo.toml"], after.files["Cargo.toml"]);
}
