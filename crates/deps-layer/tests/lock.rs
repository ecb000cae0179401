//! The layer's lock serves the real build: vendored alone (as `verify --vendored` and a Docker
//! build do), it resolves every package of the workspace lock, while the layer still compiles
//! none of the packages that no build of the workspace compiles.

mod common;

use std::path::Path;
use std::process::Output;

use common::{Fixture, text};
use deps_layer::cargo::Cargo;
use deps_layer::generate::{self, Layer, Options};
use deps_layer::unit_graph::UnitGraph;

fn cargo_with_home(dir: &Path, home: &Path, target: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO"))
        .args(args)
        .current_dir(dir)
        .env("CARGO_HOME", home)
        .env("CARGO_TARGET_DIR", target)
        .env_remove("RUSTC_BOOTSTRAP")
        .output()
        .unwrap()
}

/// `cargo vendor` of the layer's lock into a fresh folder, then the real build offline with a
/// CARGO_HOME whose only source is that folder.
fn build_against_vendored_layer(fixture: &Fixture, layer: &Layer, build: &[&str]) -> Output {
    let scratch = tempfile::tempdir().unwrap();
    let layer_dir = scratch.path().join("layer");
    generate::write_files(&layer_dir, &layer.files).unwrap();
    let vendor = scratch.path().join("vendor");
    let vendored = common::cargo_in(
        &layer_dir,
        &[
            "vendor",
            "--locked",
            "--offline",
            // Where crates.io is replaced (a Nix check's vendored sources), vendor from there.
            "--respect-source-config",
            "--versioned-dirs",
            vendor.to_str().unwrap(),
        ],
    );
    let home = scratch.path().join("cargo-home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(home.join("config.toml"), &vendored.stdout).unwrap();
    let mut args = vec!["build", "--locked", "--offline"];
    args.extend(build);
    cargo_with_home(&fixture.root, &home, &scratch.path().join("target"), &args)
}

/// The packages crane's three layer commands compile, for every variant feature and none.
fn layer_packages(layer: &Layer, variants: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    generate::write_files(dir.path(), &layer.files).unwrap();
    let cargo = Cargo {
        offline: true,
        ..Cargo::default()
    };
    let mut packages = Vec::new();
    for feature in std::iter::once(None).chain(variants.iter().map(Some)) {
        for command in [
            &["check", "--release", "--locked", "--all-targets"][..],
            &["build", "--release", "--locked"],
            &["test", "--release", "--locked", "--no-run"],
        ] {
            let mut args: Vec<String> = command.iter().map(|arg| arg.to_string()).collect();
            if let Some(feature) = feature {
                args.extend(["--features".to_string(), feature.to_string()]);
            }
            let graph = UnitGraph::for_command(&cargo, dir.path(), &args).unwrap();
            packages.extend(graph.units.into_iter().map(|unit| unit.pkg_id));
        }
    }
    packages
}

#[test]
fn an_optional_dependency_no_variant_enables_stays_resolvable() {
    let fixture = Fixture::new("optional");
    let layer = fixture.generate();
    let helper = &layer.files["lock/Cargo.toml"];
    assert!(
        helper.contains(
            "itoa = { version = \"=1.0.19\", default-features = false, optional = true }"
        ),
        "{helper}"
    );
    assert!(layer.files["Cargo.lock"].contains("name = \"itoa\""));
    assert!(
        !layer.files["Cargo.toml"].contains("workspace-deps-lock"),
        "nothing depends on the lock helper"
    );
    let compiled = layer_packages(&layer, &["cpu"]);
    assert!(compiled.iter().any(|id| id.contains("#smallvec@")));
    assert!(
        !compiled.iter().any(|id| id.contains("#itoa@")),
        "{compiled:?}"
    );

    let built = build_against_vendored_layer(&fixture, &layer, &["--workspace"]);
    assert!(built.status.success(), "{}", text(&built));
}

#[test]
fn other_members_dependencies_stay_resolvable_under_a_package_selection() {
    let fixture = Fixture::new("selection");
    let mut options = Options::new(fixture.manifest());
    options.selection = vec!["--package".into(), "app".into()];
    let layer = generate::generate(&options, generate::DEFAULT_OUT)
        .unwrap()
        .0;
    // testkit turns on core-lib's `test-utils` (fastrand), but `app` alone never builds it.
    assert!(layer.files["lock/Cargo.toml"].contains("fastrand = "));
    assert!(!layer.files["Cargo.toml"].contains("fastrand"));
    let compiled = layer_packages(&layer, &[]);
    assert!(
        !compiled.iter().any(|id| id.contains("#fastrand@")),
        "{compiled:?}"
    );

    let built = build_against_vendored_layer(&fixture, &layer, &["--package", "app"]);
    assert!(built.status.success(), "{}", text(&built));
}

/// A layer whose parts already keep every package of the workspace lock needs no lock helper:
/// wasi is never compiled on Linux, but getrandom's platform table keeps it in the lock.
#[test]
fn no_lock_helper_when_the_parts_keep_every_package() {
    let fixture = Fixture::new("transitive");
    assert!(fixture.read("Cargo.lock").contains("name = \"wasi\""));
    let layer = fixture.generate();
    assert!(layer.files["Cargo.lock"].contains("name = \"wasi\""));
    assert!(!layer.files.contains_key("lock/Cargo.toml"));
    assert!(!layer.files["Cargo.toml"].contains("\"lock\""));
}
