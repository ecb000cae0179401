//! `layer-report` on real cargo output: a build whose external units are all fresh is a hit, one
//! that compiles an external unit again is a miss naming it, and `--check` fails on a report of
//! a miss, as the flake's layer check does.

mod common;

use std::path::{Path, PathBuf};

use common::{Fixture, deps_layer, text};
use deps_layer::layer_report::LayerReport;

/// cargo's JSON messages of a release build of the fixture, kept in `name`.
fn build_log(fixture: &Fixture, name: &str) -> PathBuf {
    let output = fixture.cargo(&[
        "build",
        "--release",
        "--offline",
        "--locked",
        "--message-format",
        "json-render-diagnostics",
    ]);
    let path = fixture.path(name);
    std::fs::write(&path, &output.stdout).unwrap();
    path
}

fn report(log: &Path, out: &Path, on_miss: &str) -> std::process::Output {
    deps_layer(&[
        "layer-report",
        "--variant",
        "cpu",
        "--layer",
        "deps-common",
        "--log",
        log.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--on-miss",
        on_miss,
    ])
}

#[test]
fn a_fresh_build_hits_and_a_changed_feature_misses_naming_the_crate() {
    let fixture = Fixture::new("basic");
    let cold = build_log(&fixture, "cold.json");
    let cold_report = LayerReport::of_logs("deps-common", std::slice::from_ref(&cold)).unwrap();
    assert!(cold_report.external_units > 0);
    assert_eq!(cold_report.misses.len(), cold_report.external_units);

    // A member's edit: cargo compiles the members again and reuses every external unit.
    fixture.edit(
        "crates/server/src/main.rs",
        "fn main()",
        "// an edit\nfn main()",
    );
    let warm = build_log(&fixture, "warm.json");
    let warm_out = fixture.path("warm-report.json");
    let output = report(&warm, &warm_out, "error");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let expected = format!(
        "layer deps-common: 0 of {} external units compiled, 1 workspace units",
        cold_report.external_units
    );
    assert!(text(&output).contains(&expected), "{}", text(&output));
    let warm_report = LayerReport::read(&warm_out).unwrap();
    assert!(warm_report.misses.is_empty());

    // A feature the build did not have before: that crate's units are compiled again.
    fixture.edit(
        "crates/core/Cargo.toml",
        "smallvec = { workspace = true, features = [\"union\"] }",
        "smallvec = { workspace = true, features = [\"union\", \"const_generics\"] }",
    );
    let changed = build_log(&fixture, "changed.json");
    let changed_out = fixture.path("changed-report.json");
    // warn: printed, exit 0; error: exit 1.
    let output = report(&changed, &changed_out, "warn");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        text(&output).contains("compiled again: smallvec@1.16.6 (lib, target, opt-level 3, features [const_generics, union])"),
        "{}",
        text(&output)
    );
    assert_eq!(
        report(&changed, &changed_out, "error").status.code(),
        Some(1)
    );
    let changed_report = LayerReport::read(&changed_out).unwrap();
    let missed: Vec<&str> = changed_report
        .misses
        .iter()
        .map(|miss| miss.package.as_str())
        .collect();
    assert_eq!(missed, ["smallvec@1.16.6"]);

    // The flake's check reads the report a package wrote.
    let checked = |path: &Path| {
        deps_layer(&[
            "layer-report",
            "--variant",
            "cpu",
            "--check",
            path.to_str().unwrap(),
        ])
    };
    assert_eq!(checked(&warm_out).status.code(), Some(0));
    let output = checked(&changed_out);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output).contains("deps-layer generate"),
        "{}",
        text(&output)
    );
}

#[test]
fn an_unreadable_log_or_report_is_named() {
    let output = deps_layer(&[
        "layer-report",
        "--variant",
        "cpu",
        "--layer",
        "deps-common",
        "--log",
        "/nonexistent/log.json",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output).contains("/nonexistent/log.json"),
        "{}",
        text(&output)
    );
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("report.json");
    std::fs::write(&broken, "{").unwrap();
    let output = deps_layer(&[
        "layer-report",
        "--variant",
        "cpu",
        "--check",
        broken.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output).contains("report.json"), "{}", text(&output));
}
