//! The command line: `check` exit codes and the errors that must stop `generate` before it writes.

mod common;
mod tree;

use common::{Fixture, deps_layer, text};

fn run(fixture: &Fixture, command: &str, out: &std::path::Path) -> std::process::Output {
    deps_layer(&[
        command,
        "--manifest-path",
        fixture.manifest().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
}

#[test]
fn check_fails_on_a_stale_layer_and_passes_after_generate() {
    let fixture = Fixture::new("basic");
    let out = fixture.path("nix/deps");

    let missing = run(&fixture, "check", &out);
    assert_eq!(missing.status.code(), Some(1), "{}", text(&missing));

    let generated = run(&fixture, "generate", &out);
    assert_eq!(generated.status.code(), Some(0), "{}", text(&generated));
    let fresh = run(&fixture, "check", &out);
    assert_eq!(fresh.status.code(), Some(0), "{}", text(&fresh));

    fixture.edit(
        "Cargo.toml",
        "simd = { features = [\"server/simd\"] }",
        "simd = { features = [\"server/simd\", \"server/accel\"] }",
    );
    let stale = run(&fixture, "check", &out);
    assert_eq!(stale.status.code(), Some(1), "{}", text(&stale));
    assert!(stale.stdout.is_empty(), "the stale report goes to stderr");
    let report = String::from_utf8_lossy(&stale.stderr);
    assert!(
        report.contains("Cargo.toml:"),
        "names the file and line: {report}"
    );
    assert!(
        report.contains("simd = ["),
        "shows the differing line: {report}"
    );
    // The command as this binary was run, with its options, not a `cargo run` of this repository.
    assert!(
        report.contains(&format!(
            "regenerate it with: deps-layer generate --manifest-path {} --out {}\n",
            fixture.manifest().display(),
            out.display()
        )),
        "{report}"
    );
    assert!(!report.contains("cargo run"), "{report}");

    let regenerated = run(&fixture, "generate", &out);
    assert_eq!(regenerated.status.code(), Some(0), "{}", text(&regenerated));
    let fresh_again = run(&fixture, "check", &out);
    assert_eq!(fresh_again.status.code(), Some(0), "{}", text(&fresh_again));
}

/// Runs `generate` expecting exit code 2, a message containing `expected`, no output folder, and
/// every file of the fixture as it was.
fn assert_refused(fixture: &Fixture, expected: &[&str]) -> String {
    let out = fixture.path("nix/deps");
    let container = fixture.root.parent().unwrap();
    let before = tree::snapshot(container);
    let output = run(fixture, "generate", &out);
    let message = text(&output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    for part in expected {
        assert!(message.contains(part), "expected {part:?} in: {message}");
    }
    tree::assert_unchanged(&before, &tree::snapshot(container));
    message
}

#[test]
fn refuses_an_unreadable_manifest() {
    let fixture = Fixture::new("basic");
    std::fs::remove_file(fixture.manifest()).unwrap();
    assert_refused(&fixture, &["cannot read", "Cargo.toml"]);
}

#[test]
fn refuses_a_lock_out_of_date() {
    let fixture = Fixture::new("basic");
    fixture.edit(
        "crates/server/Cargo.toml",
        "fnv = \"1\"",
        // a version the lock lacks, which a Nix check's vendored crates hold (the `optional`
        // fixture's), so cargo reaches the lock's check there too
        "fnv = \"1\"\nsmallvec = \"=1.15.1\"",
    );
    assert_refused(&fixture, &["Cargo.lock", "out of date"]);
}

#[test]
fn refuses_a_missing_lock() {
    let fixture = Fixture::new("basic");
    std::fs::remove_file(fixture.path("Cargo.lock")).unwrap();
    let message = assert_refused(
        &fixture,
        &[
            &format!("{} is missing", fixture.path("Cargo.lock").display()),
            "cargo generate-lockfile",
        ],
    );
    assert!(!message.contains("out of date"), "{message}");
}

/// Replaces the fixture's variants table entry `simd = ...` by `entry`, expecting `generate` to
/// refuse it with a message that names the manifest, the variant and the accepted form.
fn assert_variant_refused(entry: &str, variant: &str, problem: &str) {
    let fixture = Fixture::new("basic");
    fixture.edit(
        "Cargo.toml",
        "simd = { features = [\"server/simd\"] }",
        entry,
    );
    assert_refused(
        &fixture,
        &[
            &fixture.manifest().display().to_string(),
            &format!("[workspace.metadata.variants.{variant}] is invalid"),
            problem,
            "= { features = [\"<package>/<feature>\", ...] }",
        ],
    );
}

#[test]
fn refuses_an_unknown_key_in_a_variant() {
    assert_variant_refused(
        "simd = { feature = [\"server/simd\"] }",
        "simd",
        "unknown field `feature`, expected `features`",
    );
}

#[test]
fn refuses_a_variant_that_is_not_a_table() {
    assert_variant_refused(
        "simd = \"x\"",
        "simd",
        "a variant must be a table, found a string",
    );
}

#[test]
fn refuses_features_that_are_not_a_list_of_strings() {
    assert_variant_refused(
        "simd = { features = \"server/simd\" }",
        "simd",
        "invalid type: string \"server/simd\", expected a sequence",
    );
    assert_variant_refused(
        "simd = { features = [\"server/simd\", 1] }",
        "simd",
        "invalid type: integer `1`, expected a string",
    );
}

#[test]
fn refuses_reserved_and_malformed_variant_names() {
    assert_variant_refused(
        "default = { features = [\"server/simd\"] }",
        "default",
        "the name `default` is reserved: it is Cargo's default feature",
    );
    assert_variant_refused("common = {}", "common", "the name `common` is reserved");
    assert_variant_refused(
        "Simd = { features = [\"server/simd\"] }",
        "Simd",
        "must start with a lowercase letter or digit",
    );
}

#[test]
fn an_empty_variant_is_accepted_as_a_variant_without_features() {
    let fixture = Fixture::new("basic");
    let out = fixture.path("nix/deps");
    let generated = run(&fixture, "generate", &out);
    assert_eq!(generated.status.code(), Some(0), "{}", text(&generated));
    assert!(fixture.read("nix/deps/Cargo.toml").contains("\ncpu = ["));
    fixture.edit("Cargo.toml", "cpu = { features = [] }", "cpu = {}");
    let same = run(&fixture, "check", &out);
    assert_eq!(same.status.code(), Some(0), "{}", text(&same));
}

#[test]
fn refuses_packages_that_are_not_a_list_of_members() {
    assert_variant_refused(
        "simd = { packages = \"server\", features = [\"server/simd\"] }",
        "simd",
        "invalid type: string \"server\", expected a sequence",
    );
    assert_variant_refused(
        "simd = { packages = [], features = [\"server/simd\"] }",
        "simd",
        "`packages = []` selects nothing",
    );
    assert_variant_refused(
        "simd = { packages = [\"server\", \"server\"] }",
        "simd",
        "`packages` names `server` twice",
    );
    assert_variant_refused(
        "simd = { package = \"server\" }",
        "simd",
        "unknown field `package`, expected `features` or `packages`",
    );
    // Not a member: the path crate outside the members is not one either.
    for name in ["servr", "util"] {
        assert_variant_refused(
            &format!("simd = {{ packages = [\"{name}\"], features = [\"server/simd\"] }}"),
            "simd",
            &format!(
                "`packages` names `{name}`, which is not a member of the workspace (members: core-lib, server)"
            ),
        );
    }
}

/// A variant that names its packages builds only those: its selection, package name and program
/// in plan.json, and in the layer only the dependencies that selection compiles.
#[test]
fn a_variant_with_packages_builds_only_those() {
    let fixture = Fixture::new("basic");
    fixture.edit(
        "Cargo.toml",
        "cpu = { features = [] }",
        "cpu = { packages = [\"core-lib\"] }",
    );
    fixture.edit(
        "Cargo.toml",
        "simd = { features = [\"server/simd\"] }",
        "simd = { packages = [\"server\"], features = [\"server/simd\"] }",
    );
    let out = fixture.path("nix/deps");
    let generated = run(&fixture, "generate", &out);
    assert_eq!(generated.status.code(), Some(0), "{}", text(&generated));
    let plan = deps_layer::plan_file::PlanFile::read(&out).unwrap();
    let cpu = &plan.variants["cpu"];
    assert_eq!(cpu.selection, ["--package", "core-lib"]);
    assert_eq!(cpu.cargo_args, ["--locked", "--package", "core-lib"]);
    assert_eq!(cpu.layer, "common");
    assert_eq!(cpu.pname, "core-lib");
    assert_eq!(cpu.main_program, None, "core-lib has no binary");
    let simd = &plan.variants["simd"];
    assert_eq!(simd.pname, "server-simd");
    assert_eq!(simd.main_program.as_deref(), Some("server"));
    assert_eq!(simd.layer, "simd");
    let accel = &plan.variants["accel"];
    assert_eq!(accel.selection, ["--workspace"]);
    assert_eq!(accel.pname, "workspace-accel");
    assert_eq!(accel.main_program.as_deref(), Some("server"));
    // simd builds the server: the layer links a binary as the server does.
    assert!(fixture.read("nix/deps/Cargo.toml").contains("[[bin]]"));
    let checked = run(&fixture, "check", &out);
    assert_eq!(checked.status.code(), Some(0), "{}", text(&checked));

    // When no variant builds the server, neither its binary nor `server/simd`'s `core-lib/std`
    // (memchr's `std` and `alloc`) reaches the layer.
    fixture.edit(
        "Cargo.toml",
        "simd = { packages = [\"server\"], features = [\"server/simd\"] }",
        "simd = { packages = [\"core-lib\"], features = [\"core-lib/simd\"] }",
    );
    fixture.edit(
        "Cargo.toml",
        "accel = { features = [\"server/accel\"] }",
        "accel = { packages = [\"core-lib\"], features = [\"core-lib/accel\"] }",
    );
    let stale = run(&fixture, "check", &out);
    assert_eq!(stale.status.code(), Some(1), "{}", text(&stale));
    let generated = run(&fixture, "generate", &out);
    assert_eq!(generated.status.code(), Some(0), "{}", text(&generated));
    let manifest = fixture.read("nix/deps/Cargo.toml");
    assert!(!manifest.contains("[[bin]]"), "{manifest}");
    assert!(!out.join("src/main.rs").exists());
    assert!(
        manifest.contains(
            "memchr = { version = \"=2.8.3\", default-features = false, optional = true }"
        ),
        "{manifest}"
    );
    let plan = deps_layer::plan_file::PlanFile::read(&out).unwrap();
    assert!(
        plan.variants
            .values()
            .all(|variant| variant.main_program.is_none() && variant.pname.starts_with("core-lib")),
        "{plan:?}"
    );
}

#[test]
fn refuses_a_variant_with_a_missing_feature() {
    let fixture = Fixture::new("basic");
    fixture.edit("Cargo.toml", "\"server/accel\"", "\"server/acel\"");
    assert_refused(&fixture, &["variant `accel`", "server/acel", "Cargo.toml"]);
}

#[test]
fn refuses_a_git_dependency_without_a_locked_revision() {
    let fixture = Fixture::new("basic");
    let lock = fixture.read("Cargo.lock");
    fixture.write(
        "Cargo.lock",
        &format!("{lock}\n[[package]]\nname = \"gitdep\"\nversion = \"0.1.0\"\nsource = \"git+https://example.invalid/gitdep?branch=main\"\n"),
    );
    assert_refused(&fixture, &["gitdep", "no locked revision", "Cargo.lock"]);
}

#[test]
fn unreadable_lock_is_named() {
    let fixture = Fixture::new("basic");
    fixture.write("Cargo.lock", "this is = not [ a lock");
    assert_refused(&fixture, &["Cargo.lock"]);
}

#[test]
fn refuses_an_out_path_that_would_end_the_header_comment() {
    let fixture = Fixture::new("basic");
    let container = fixture.root.parent().unwrap();
    let before = tree::snapshot(container);
    // Written unquoted into each generated Cargo.toml's comment, the newline once let the rest
    // be read as TOML: a [patch] that cargo honoured.
    let injected = fixture
        .root
        .join("deps\n[patch.crates-io]\nfnv = { path = \"/elsewhere\" }\n#");
    for command in ["generate", "check"] {
        let output = run(&fixture, command, &injected);
        let message = text(&output);
        assert_eq!(output.status.code(), Some(2), "{command}: {message}");
        assert!(
            message.contains("control character '\\n'"),
            "{command}: {message}"
        );
        tree::assert_unchanged(&before, &tree::snapshot(container));
    }
}

#[test]
fn an_out_path_with_spaces_is_quoted_in_the_header() {
    let fixture = Fixture::new("basic");
    let out = fixture.path("nix/my deps");
    let generated = run(&fixture, "generate", &out);
    assert_eq!(generated.status.code(), Some(0), "{}", text(&generated));
    let manifest = std::fs::read_to_string(out.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("# Regenerate with: deps-layer generate --out 'nix/my deps'"),
        "{manifest}"
    );
    let fresh = run(&fixture, "check", &out);
    assert_eq!(fresh.status.code(), Some(0), "{}", text(&fresh));
}
