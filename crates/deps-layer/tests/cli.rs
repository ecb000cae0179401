//! The command line: `check` exit codes and the errors that must stop `generate` before it writes.

mod common;

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
    let report = text(&stale);
    assert!(
        report.contains("Cargo.toml:"),
        "names the file and line: {report}"
    );
    assert!(
        report.contains("simd = ["),
        "shows the differing line: {report}"
    );
    assert!(
        report.contains("cargo run --locked -p deps-layer -- generate --out nix/deps"),
        "{report}"
    );

    let regenerated = run(&fixture, "generate", &out);
    assert_eq!(regenerated.status.code(), Some(0), "{}", text(&regenerated));
    let fresh_again = run(&fixture, "check", &out);
    assert_eq!(fresh_again.status.code(), Some(0), "{}", text(&fresh_again));
}

/// Runs `generate` expecting exit code 2, a message containing `expected`, and no output folder.
fn assert_refused(fixture: &Fixture, expected: &[&str]) {
    let out = fixture.path("nix/deps");
    let output = run(fixture, "generate", &out);
    let message = text(&output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    for part in expected {
        assert!(message.contains(part), "expected {part:?} in: {message}");
    }
    assert!(!out.exists(), "nothing may be written on error");
    assert!(
        !fixture.path("nix").exists()
            || std::fs::read_dir(fixture.path("nix"))
                .unwrap()
                .next()
                .is_none(),
        "no temporary folder may be left"
    );
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
        "fnv = \"1\"\nsmallvec = \"0.6\"",
    );
    assert_refused(&fixture, &["Cargo.lock", "out of date"]);
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
