//! Shared helpers for the fixture tests: each test works on its own copy of a fixture workspace,
//! so edits never touch the committed fixtures.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use deps_layer::generate::{self, Layer, Options};

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        if entry.file_name() == "target" {
            continue;
        }
        let dest = to.join(entry.file_name());
        if path.is_dir() {
            copy_tree(&path, &dest);
        } else {
            std::fs::copy(&path, &dest).unwrap();
        }
    }
}

/// A copy of the named fixture with its registry crates in the local cache.
pub struct Fixture {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
}

impl Fixture {
    pub fn new(name: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join(name);
        copy_tree(&fixtures_dir().join(name), &root);
        let fixture = Fixture { _dir: dir, root };
        // Crates must be in the local cache before the offline cargo runs the tool makes.
        fixture.cargo(&["fetch", "--locked"]);
        fixture
    }

    pub fn manifest(&self) -> PathBuf {
        self.root.join("Cargo.toml")
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path(relative)).unwrap()
    }

    pub fn write(&self, relative: &str, content: &str) {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    /// Replaces `from` by `to` in a file, failing the test when `from` is absent.
    pub fn edit(&self, relative: &str, from: &str, to: &str) {
        let content = self.read(relative);
        assert!(
            content.contains(from),
            "{relative} does not contain {from:?}"
        );
        self.write(relative, &content.replacen(from, to, 1));
    }

    pub fn cargo(&self, args: &[&str]) -> Output {
        cargo_in(&self.root, args)
    }

    pub fn generate(&self) -> Layer {
        generate::generate(&Options::new(self.manifest()), generate::DEFAULT_OUT)
            .unwrap()
            .0
    }
}

pub fn cargo_in(dir: &Path, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(dir)
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cargo {args:?} failed in {}:\n{}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Runs the deps-layer binary.
pub fn deps_layer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_deps-layer"))
        .args(args)
        .output()
        .unwrap()
}

pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `verify` of every variant of a fixture for a package selection (None: the whole workspace).
pub fn verify_fixture(
    fixture: &Fixture,
    selection: Option<&[&str]>,
    layered: bool,
    layer: Option<PathBuf>,
) -> Vec<deps_layer::verify::VariantReport> {
    let mut generate = Options::new(fixture.manifest());
    if let Some(selection) = selection {
        generate.selection = selection.iter().map(|arg| arg.to_string()).collect();
    }
    deps_layer::verify::verify(&deps_layer::verify::VerifyOptions {
        generate,
        variants: Vec::new(),
        layered,
        clippy: false,
        layer,
        vendored: false,
    })
    .unwrap()
}

/// Asserts that the real build recompiled no external unit, for every report.
pub fn assert_all_reused(reports: &[deps_layer::verify::VariantReport]) {
    assert!(!reports.is_empty());
    for report in reports {
        let shown = report.render();
        assert!(report.layer_units > 0, "{shown}");
        assert_eq!(report.recompiled(), 0, "{shown}");
        let real = report.phases.last().unwrap();
        assert!(
            real.external_fresh > 0,
            "the real build used the layer: {shown}"
        );
        assert!(
            real.local_compiled > 0,
            "the workspace itself was compiled: {shown}"
        );
    }
}
