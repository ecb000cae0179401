//! `verify` on the fixtures: the real build reuses every external unit the layer compiled, for
//! every variant, with one layer and with the variant layered on the common one.

mod common;

use common::Fixture;
use deps_layer::generate::Options;
use deps_layer::verify::{VerifyOptions, verify};

fn verify_all(fixture: &Fixture, layered: bool) {
    common::assert_all_reused(&common::verify_fixture(fixture, None, layered, None));
}

#[test]
fn basic_every_variant_reuses_its_layer() {
    verify_all(&Fixture::new("basic"), false);
}

#[test]
fn basic_every_variant_reuses_the_layered_layer() {
    verify_all(&Fixture::new("basic"), true);
}

/// A layer that drifted from the workspace (a feature dropped, a crate missing) must be caught,
/// with the reason for each unit the real build compiled again.
#[test]
fn a_drifted_layer_is_reported_with_causes() {
    let fixture = Fixture::new("basic");
    let mut layer = fixture.generate();
    // The cpu variant builds on the common layer's slice; the whole crate drifts alike.
    for file in ["layers/common/Cargo.toml", "Cargo.toml"] {
        let manifest = layer.files.get_mut(file).unwrap();
        *manifest = manifest
            .replace("features = [\"union\"] }", "}")
            .lines()
            .filter(|line| !line.starts_with("cfg-if = "))
            .collect::<Vec<_>>()
            .join("\n");
    }
    let dir = tempfile::tempdir().unwrap();
    deps_layer::generate::write_files(dir.path(), &layer.files).unwrap();
    // The lock still lists cfg-if; let cargo drop it as a user editing the layer by hand would.
    for crate_dir in [dir.path().to_path_buf(), dir.path().join("layers/common")] {
        common::cargo_in(&crate_dir, &["update", "--workspace", "--offline"]);
    }

    let reports = verify(&VerifyOptions {
        generate: Options::new(fixture.manifest()),
        variants: vec!["cpu".into()],
        layered: false,
        clippy: false,
        layer: Some(dir.path().to_path_buf()),
        vendored: false,
    })
    .unwrap();
    let report = &reports[0];
    let shown = report.render();
    let cause = |name: &str| {
        report
            .misses
            .iter()
            .find(|miss| miss.unit.starts_with(name))
            .map(|miss| miss.cause.clone())
            .unwrap_or_else(|| panic!("{name} not reported: {shown}"))
    };
    assert_eq!(cause("cfg-if@"), "not in the layer");
    assert!(
        cause("smallvec@").contains("features differ from the layer's: +union"),
        "{shown}"
    );
}

/// Flags from the workspace's `.cargo/config.toml` change every unit's hash; the layer carries
/// them so the real build still reuses it.
#[test]
fn cargo_config_flags_reach_the_layer() {
    let fixture = Fixture::new("basic");
    fixture.write(
        ".cargo/config.toml",
        "[build]\nrustflags = [\"--cfg\", \"fixture_flag\"]\njobs = 2\n",
    );
    let layer = fixture.generate();
    let config = &layer.files[".cargo/config.toml"];
    assert!(
        config.contains("rustflags = [\"--cfg\", \"fixture_flag\"]"),
        "{config}"
    );
    assert!(!config.contains("jobs"), "{config}");
    let reports = verify(&VerifyOptions {
        generate: Options::new(fixture.manifest()),
        variants: vec!["simd".into()],
        layered: false,
        clippy: true,
        layer: None,
        vendored: false,
    })
    .unwrap();
    common::assert_all_reused(&reports);
}

/// `verify` with the layer's lock vendored: the layer and the real build run offline against that
/// folder alone (their own CARGO_HOME), as in the flake, and the real build still reuses every
/// external unit. The fixture has an optional dependency no variant enables, which the real build
/// resolves from the layer's lock.
#[test]
fn vendored_layer_serves_the_real_build() {
    let fixture = Fixture::new("optional");
    let reports = verify(&VerifyOptions {
        generate: Options::new(fixture.manifest()),
        variants: Vec::new(),
        layered: true,
        clippy: false,
        layer: None,
        vendored: true,
    })
    .unwrap();
    common::assert_all_reused(&reports);
}

/// The vendored mode sees what the flake sees: a layer whose lock lacks a package of the
/// workspace lock (here the layer without its lock helper) fails the real build's resolution.
#[test]
fn vendored_mode_catches_a_lock_that_drops_a_package() {
    let fixture = Fixture::new("optional");
    let mut layer = fixture.generate();
    layer.files.retain(|path, _| !path.starts_with("lock/"));
    let manifest = layer.files.get_mut("Cargo.toml").unwrap();
    *manifest = manifest.replace("members = [\"lock\"]", "members = []");
    let dir = tempfile::tempdir().unwrap();
    deps_layer::generate::write_files(dir.path(), &layer.files).unwrap();
    common::cargo_in(dir.path(), &["update", "--workspace", "--offline"]);
    assert!(
        !std::fs::read_to_string(dir.path().join("Cargo.lock"))
            .unwrap()
            .contains("name = \"itoa\"")
    );

    let options = |vendored| VerifyOptions {
        generate: Options::new(fixture.manifest()),
        variants: Vec::new(),
        layered: false,
        clippy: false,
        layer: Some(dir.path().to_path_buf()),
        vendored,
    };
    // Against the registry cache the hole is invisible.
    common::assert_all_reused(&verify(&options(false)).unwrap());
    let err = verify(&options(true)).unwrap_err().to_string();
    assert!(
        err.contains("no matching package named `itoa` found"),
        "{err}"
    );
}
