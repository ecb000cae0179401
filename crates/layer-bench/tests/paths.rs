//! `--work-dir` and `--out`: the benchmark deletes and rewrites folders in its work dir and
//! replaces its report, so it takes only paths it owns and refuses the rest with every file as it
//! was.

#[path = "../../deps-layer/tests/tree/mod.rs"]
mod tree;

use std::path::Path;
use std::process::Output;

/// A folder holding a one-package workspace `ws`, its lock and a file of the user's.
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(ws.join("src")).unwrap();
    std::fs::write(
        ws.join("Cargo.toml"),
        "[package]\nname = \"w\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .unwrap();
    std::fs::write(ws.join("src/main.rs"), "fn main() {}\n").unwrap();
    std::fs::write(
        ws.join("Cargo.lock"),
        "version = 4\n\n[[package]]\nname = \"w\"\nversion = \"0.1.0\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.md"), "mine\n").unwrap();
    std::fs::create_dir(dir.path().join("mine")).unwrap();
    std::fs::write(dir.path().join("mine/a.txt"), "mine\n").unwrap();
    dir
}

/// layer-bench without builds or keys: only its own paths are touched.
fn bench(dir: &Path, work_dir: &str, out: &str) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_layer-bench"))
        .current_dir(dir)
        .args(["--manifest-path", "ws/Cargo.toml", "--strategies", "none"])
        .args([
            "--skip-builds",
            "--skip-keys",
            "--work-dir",
            work_dir,
            "--out",
            out,
        ])
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap()
}

fn assert_refused(work_dir: &str, out: &str, expected: &str) {
    let dir = setup();
    let before = tree::snapshot(dir.path());
    let output = bench(dir.path(), work_dir, out);
    let message = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(message.contains("refusing to write"), "{message}");
    assert!(
        message.contains(expected),
        "expected {expected:?} in: {message}"
    );
    tree::assert_unchanged(&before, &tree::snapshot(dir.path()));
}

#[test]
fn refuses_a_work_dir_it_does_not_own() {
    assert_refused("ws", "report.md", "it is the workspace being measured");
    assert_refused(".", "report.md", "it contains the workspace being measured");
    assert_refused(
        "mine",
        "report.md",
        "it is not empty and has no .layer-bench file",
    );
    assert_refused("notes.md", "report.md", "it is a file, not a folder");
}

#[test]
fn refuses_a_report_path_it_did_not_write() {
    assert_refused(
        "work",
        "notes.md",
        "it exists and layer-bench did not write it",
    );
    assert_refused("work", "mine", "it is not a regular file");
}

#[test]
fn reuses_its_own_work_dir_and_report() {
    let dir = setup();
    for run in 0..2 {
        let output = bench(dir.path(), "work", "report.md");
        assert_eq!(
            output.status.code(),
            Some(0),
            "run {run}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert!(dir.path().join("work/.layer-bench").is_file());
    let report = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(
        report.starts_with("<!-- Written by layer-bench"),
        "{report}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("notes.md")).unwrap(),
        "mine\n"
    );
}
