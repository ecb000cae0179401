//! Real-world workspace shapes: LTO with C-library and binary members, proc-macro members, package
//! selection, features reached only through the graph. The layer must be reused by the real build
//! and its test build for each.

mod common;

use common::{Fixture, assert_all_reused, verify_fixture};

#[test]
fn lto_thin_with_library_binary_and_c_library_members() {
    let fixture = Fixture::new("lto");
    let layer = fixture.generate();
    let objects = &layer.files["objects/Cargo.toml"];
    assert!(
        objects.contains("crate-type = [\"cdylib\", \"rlib\", \"staticlib\"]"),
        "{objects}"
    );
    // Only what the C library reaches needs object code and bitcode; the binary's own
    // dependency (memchr) stays bitcode-only.
    assert!(
        objects.contains("itoa = ") && !objects.contains("memchr"),
        "{objects}"
    );
    assert!(layer.files["Cargo.toml"].contains("lto = \"thin\""));
    assert!(layer.files.contains_key("src/main.rs"));
    assert_all_reused(&verify_fixture(&fixture, None, false, None));
    assert_all_reused(&verify_fixture(&fixture, None, true, None));
}

#[test]
fn lto_fat() {
    let fixture = Fixture::new("lto");
    fixture.edit("Cargo.toml", "lto = \"thin\"", "lto = true");
    assert_all_reused(&verify_fixture(&fixture, None, false, None));
}

#[test]
fn proc_macro_member_beside_run_time_syn() {
    let fixture = Fixture::new("proc-macro");
    let layer = fixture.generate();
    let target_syn = layer.files["Cargo.toml"]
        .lines()
        .find(|line| line.starts_with("syn = "))
        .unwrap()
        .to_string();
    let host_syn = layer.files["host/Cargo.toml"]
        .lines()
        .find(|line| line.starts_with("syn = "))
        .unwrap()
        .to_string();
    assert!(target_syn.contains("\"full\""), "{target_syn}");
    assert!(!host_syn.contains("\"full\""), "{host_syn}");
    assert_all_reused(&verify_fixture(&fixture, None, false, None));
    assert_all_reused(&verify_fixture(&fixture, None, true, None));
}

#[test]
fn package_selection_decides_member_features() {
    let fixture = Fixture::new("selection");
    let workspace_layer = fixture.generate();
    assert!(workspace_layer.files["Cargo.toml"].contains("fastrand"));
    assert_all_reused(&verify_fixture(&fixture, None, false, None));
    assert_all_reused(&verify_fixture(&fixture, None, true, None));
    for selection in [&["--package", "app"][..], &[][..]] {
        assert_all_reused(&verify_fixture(&fixture, Some(selection), false, None));
    }

    // The layer of the whole workspace does not fit a build of `app` alone: testkit's
    // `test-utils` is off there, so smallvec lacks `write`.
    let dir = tempfile::tempdir().unwrap();
    deps_layer::generate::write_files(dir.path(), &workspace_layer.files).unwrap();
    let reports = verify_fixture(
        &fixture,
        Some(&["--package", "app"]),
        false,
        Some(dir.path().to_path_buf()),
    );
    let shown = reports[0].render();
    let smallvec = reports[0]
        .misses
        .iter()
        .find(|miss| miss.unit.starts_with("smallvec@"))
        .unwrap_or_else(|| panic!("smallvec not recompiled: {shown}"));
    assert!(smallvec.cause.contains("-write"), "{shown}");
}

#[test]
fn feature_reached_only_through_the_graph() {
    let fixture = Fixture::new("transitive");
    let layer = fixture.generate();
    assert!(
        layer.files["Cargo.toml"].contains(
            "getrandom = { version = \"=0.2.17\", default-features = false, features = [\"std\"] }"
        ),
        "{}",
        layer.files["Cargo.toml"]
    );
    assert_all_reused(&verify_fixture(&fixture, None, false, None));
    assert_all_reused(&verify_fixture(&fixture, None, true, None));
}

/// Object code only the test build needs (the C library's tests turn on a member feature that
/// brings rand_core, which asks for `getrandom/std`) is compiled only by the layer's test build:
/// in `objects/` it would turn on getrandom's `std` in the layer's `cargo build`, and the real
/// build (getrandom without features) would compile getrandom again.
#[test]
fn test_only_object_code_stays_out_of_the_build() {
    let fixture = Fixture::new("lto-dev");
    let layer = fixture.generate();
    let objects = &layer.files["objects/Cargo.toml"];
    assert!(
        objects.contains("getrandom = { version = \"=0.2.17\", default-features = false }")
            && !objects.contains("rand_core"),
        "{objects}"
    );
    let dev_objects = &layer.files["dev-objects/Cargo.toml"];
    assert!(
        dev_objects.contains("crate-type = [\"cdylib\", \"rlib\"]")
            && dev_objects.contains("rand_core = "),
        "{dev_objects}"
    );
    let root = &layer.files["Cargo.toml"];
    let dev_dependencies = root.split("[dev-dependencies]").nth(1).unwrap_or_default();
    assert!(
        dev_dependencies.contains("workspace-deps-dev-objects = "),
        "{root}"
    );
    assert_all_reused(&verify_fixture(&fixture, None, false, None));
}

/// Host features only the test build needs (a proc-macro dev-dependency asks for `memchr/std`
/// where the build script's memchr has none) are compiled only by the layer's test build, through
/// a proc-macro helper used as a dev-dependency.
#[test]
fn test_only_host_features_stay_out_of_the_build() {
    let fixture = Fixture::new("host-dev");
    let layer = fixture.generate();
    let host = &layer.files["host/Cargo.toml"];
    assert!(
        host.contains("memchr = { version = \"=2.8.3\", default-features = false }"),
        "{host}"
    );
    let dev_host = &layer.files["dev-host/Cargo.toml"];
    assert!(
        dev_host.contains("proc-macro = true")
            && dev_host.contains("features = [\"alloc\", \"std\"]"),
        "{dev_host}"
    );
    assert!(
        layer.files["Cargo.toml"].contains("[dev-dependencies]\nworkspace-deps-dev-host = "),
        "{}",
        layer.files["Cargo.toml"]
    );
    assert_all_reused(&verify_fixture(&fixture, None, false, None));
}
