//! `generate --out`: it writes only into a folder it owns and refuses everything else with exit 2
//! and every file as it was; it replaces its own layer so that a kill at any step leaves a
//! complete layer in place, and the next run removes what the killed one left.

mod common;
mod tree;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Output, Stdio};

use common::{Fixture, deps_layer, text};

const MARKER: &str = ".deps-layer";

fn generate(fixture: &Fixture, out: &Path) -> Output {
    deps_layer(&[
        "generate",
        "--offline",
        "--manifest-path",
        fixture.manifest().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
}

fn check(fixture: &Fixture, out: &Path) -> Output {
    deps_layer(&[
        "check",
        "--offline",
        "--manifest-path",
        fixture.manifest().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
}

/// The folder holding the fixture copy and nothing else: an ancestor of its root.
fn container(fixture: &Fixture) -> PathBuf {
    fixture.root.parent().unwrap().to_path_buf()
}

/// Runs `generate --out out`, expecting exit 2, a message holding each of `expected`, and every
/// file under the fixture's container as it was.
fn assert_refused(fixture: &Fixture, out: &Path, expected: &[&str]) -> String {
    let before = tree::snapshot(&container(fixture));
    let output = generate(fixture, out);
    let message = text(&output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert!(message.contains("refusing to write"), "{message}");
    assert!(message.contains("nothing was changed"), "{message}");
    for part in expected {
        assert!(message.contains(part), "expected {part:?} in: {message}");
    }
    tree::assert_unchanged(&before, &tree::snapshot(&container(fixture)));
    message
}

#[test]
fn refuses_the_workspace_root() {
    let fixture = Fixture::new("basic");
    let message = assert_refused(&fixture, &fixture.root, &["it is the workspace root"]);
    assert!(
        message.contains(fixture.root.to_str().unwrap()),
        "{message}"
    );
    // `.` as a user types it, from inside the workspace.
    let before = tree::snapshot(&container(&fixture));
    let output = Command::new(env!("CARGO_BIN_EXE_deps-layer"))
        .args(["generate", "--offline", "--out", "."])
        .current_dir(&fixture.root)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("it is the workspace root"));
    tree::assert_unchanged(&before, &tree::snapshot(&container(&fixture)));
}

#[test]
fn refuses_an_ancestor_of_the_workspace_root() {
    let fixture = Fixture::new("basic");
    let message = assert_refused(
        &fixture,
        &container(&fixture),
        &["it contains the workspace root"],
    );
    assert!(
        message.contains(fixture.root.to_str().unwrap()),
        "{message}"
    );
    // Spelled with `..` from a folder that does not exist yet.
    let dotted = fixture.path("nix/new/../../..");
    assert_refused(&fixture, &dotted, &["it contains the workspace root"]);
}

#[test]
fn refuses_a_member_folder_and_its_parent() {
    let fixture = Fixture::new("basic");
    assert_refused(
        &fixture,
        &fixture.path("crates/server"),
        &["it is the folder of package `server`"],
    );
    assert_refused(
        &fixture,
        &fixture.path("crates"),
        &["it contains the folder of package"],
    );
    // A path crate outside the members is the workspace's too.
    assert_refused(
        &fixture,
        &fixture.path("local"),
        &["it contains the folder of package"],
    );
}

#[test]
fn refuses_a_folder_holding_git() {
    let fixture = Fixture::new("basic");
    fixture.write("nix/deps/.git/HEAD", "ref: refs/heads/main\n");
    assert_refused(
        &fixture,
        &fixture.path("nix/deps"),
        &["it holds a git repository", ".git"],
    );
    // Even inside a folder the tool wrote: a repository cloned there is not its to delete.
    let fixture = Fixture::new("basic");
    let out = fixture.path("nix/deps");
    let generated = generate(&fixture, &out);
    assert_eq!(generated.status.code(), Some(0), "{}", text(&generated));
    fixture.write("nix/deps/vendor/clone/.git/HEAD", "ref: refs/heads/main\n");
    assert_refused(
        &fixture,
        &out,
        &["it holds a git repository", "vendor/clone/.git"],
    );
    // A path inside a git directory.
    fixture.write(".git/HEAD", "ref: refs/heads/main\n");
    assert_refused(
        &fixture,
        &fixture.path(".git/deps"),
        &["it is inside a git directory"],
    );
}

#[test]
fn refuses_a_folder_it_did_not_write() {
    let fixture = Fixture::new("basic");
    fixture.write("nix/deps/notes.txt", "mine\n");
    assert_refused(
        &fixture,
        &fixture.path("nix/deps"),
        &["it is not empty and has no .deps-layer file"],
    );
    // A marker that deps-layer did not write does not make the folder its own.
    fixture.write("nix/deps/.deps-layer", "something else\n");
    assert_refused(
        &fixture,
        &fixture.path("nix/deps"),
        &["its .deps-layer file was not written by deps-layer"],
    );
}

#[test]
fn refuses_a_file_and_a_symbolic_link() {
    let fixture = Fixture::new("basic");
    fixture.write("nix/deps", "a file\n");
    assert_refused(
        &fixture,
        &fixture.path("nix/deps"),
        &["it is a file, not a folder"],
    );

    let fixture = Fixture::new("basic");
    let target = fixture.path("nix/real");
    let generated = generate(&fixture, &target);
    assert_eq!(generated.status.code(), Some(0), "{}", text(&generated));
    std::os::unix::fs::symlink(&target, fixture.path("nix/deps")).unwrap();
    assert_refused(
        &fixture,
        &fixture.path("nix/deps"),
        &["it is a symbolic link"],
    );
}

#[test]
fn regenerates_over_its_own_layer_and_into_an_empty_folder() {
    let fixture = Fixture::new("basic");
    std::fs::create_dir_all(fixture.path("nix/deps")).unwrap();
    let out = fixture.path("nix/deps");
    let first = generate(&fixture, &out);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    assert!(
        fixture
            .read("nix/deps/.deps-layer")
            .contains("deps-layer generate")
    );
    let layer = tree::snapshot(&out);

    // A file left in the layer's folder is the layer's to replace; the same layer comes back.
    fixture.write("nix/deps/src/left-over.rs", "\n");
    let again = generate(&fixture, &out);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    tree::assert_unchanged(&layer, &tree::snapshot(&out));
    let fresh = check(&fixture, &out);
    assert_eq!(fresh.status.code(), Some(0), "{}", text(&fresh));
    let beside: Vec<_> = std::fs::read_dir(fixture.path("nix"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(beside, ["deps"], "nothing is left beside the layer");
}

/// `generate` started paused at `step` of the replacement (resumed once `resume`, if given, is
/// removed), and what it wrote to stderr up to the pause; panics if it ends before.
// The child is handed back to the caller, which waits for it.
#[allow(clippy::zombie_processes)]
fn generate_paused_at(
    fixture: &Fixture,
    out: &Path,
    step: &str,
    resume: Option<&Path>,
) -> (Child, BufReader<ChildStderr>, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_deps-layer"));
    command
        .args(["generate", "--offline", "--manifest-path"])
        .arg(fixture.manifest())
        .arg("--out")
        .arg(out)
        .env(deps_layer::output::PAUSE_VAR, step)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(resume) = resume {
        command.env(deps_layer::output::RESUME_VAR, resume);
    }
    let mut child = command.spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            let status = child.wait().unwrap();
            panic!("generate never reached {step} ({status}):\n{seen}");
        }
        seen.push_str(&line);
        if line.trim_end() == format!("paused at {step}") {
            return (child, stderr, seen);
        }
    }
}

/// Starts `generate` paused at `step` of the replacement, waits until it is there, and kills it
/// with SIGKILL.
fn kill_generate_at(fixture: &Fixture, out: &Path, step: &str) {
    let (mut child, _, _) = generate_paused_at(fixture, out, step, None);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Staging folders beside the layer.
fn leftovers(fixture: &Fixture) -> Vec<PathBuf> {
    std::fs::read_dir(fixture.path("nix"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.file_name().unwrap() != "deps")
        .collect()
}

#[test]
fn a_killed_generate_leaves_a_complete_layer_and_the_next_run_cleans_up() {
    for (step, leaves_new) in [("staging", false), ("staged", false), ("swapped", true)] {
        let fixture = Fixture::new("basic");
        let out = fixture.path("nix/deps");
        let first = generate(&fixture, &out);
        assert_eq!(first.status.code(), Some(0), "{}", text(&first));
        let old = tree::snapshot(&out);
        // A new feature set: the new layer differs from the old one.
        fixture.edit(
            "Cargo.toml",
            "simd = { features = [\"server/simd\"] }",
            "simd = { features = [\"server/simd\", \"server/accel\"] }",
        );

        kill_generate_at(&fixture, &out, step);
        let left = leftovers(&fixture);
        assert_eq!(
            left.len(),
            1,
            "{step}: one staging folder is left: {left:?}"
        );
        assert!(
            left[0].join(MARKER).is_file(),
            "{step}: the staging folder carries the marker"
        );
        let state = check(&fixture, &out);
        if leaves_new {
            assert_eq!(
                state.status.code(),
                Some(0),
                "{step}: the new layer is complete: {}",
                text(&state)
            );
        } else {
            tree::assert_unchanged(&old, &tree::snapshot(&out));
            assert_eq!(state.status.code(), Some(1), "{step}: {}", text(&state));
        }

        let next = generate(&fixture, &out);
        assert_eq!(next.status.code(), Some(0), "{step}: {}", text(&next));
        assert!(
            leftovers(&fixture).is_empty(),
            "{step}: the next run removed the staging folder"
        );
        let fresh = check(&fixture, &out);
        assert_eq!(fresh.status.code(), Some(0), "{step}: {}", text(&fresh));
    }
}

/// Copies every file of `from` into `to`.
fn copy_files(from: &Path, to: &Path) {
    for (relative, entry) in tree::snapshot(from) {
        if let tree::Entry::File(bytes) = entry {
            let path = to.join(relative);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
    }
}

#[test]
fn adopts_a_layer_written_before_the_marker_and_its_leftovers() {
    let fixture = Fixture::new("basic");
    let out = fixture.path("nix/deps");
    let generated = generate(&fixture, &out);
    assert_eq!(generated.status.code(), Some(0), "{}", text(&generated));
    // A layer of an earlier version: the same files without the marker and without plan.json
    // (both came later), and what such a version left beside it when killed between its two renames.
    std::fs::remove_file(out.join(MARKER)).unwrap();
    std::fs::remove_file(out.join("plan.json")).unwrap();
    let earlier = tree::snapshot(&out);
    copy_files(&out, &fixture.path("nix/.deps-layer-AbC123/previous"));
    // A folder with the earlier prefix that holds anything else is not the tool's.
    fixture.write("nix/.deps-layer-notes/todo.txt", "mine\n");

    // One foreign file makes the folder not the tool's.
    fixture.write("nix/deps/notes.txt", "mine\n");
    assert_refused(
        &fixture,
        &out,
        &["it is not empty and has no .deps-layer file"],
    );
    std::fs::remove_file(out.join("notes.txt")).unwrap();
    tree::assert_unchanged(&earlier, &tree::snapshot(&out));

    let adopted = generate(&fixture, &out);
    assert_eq!(adopted.status.code(), Some(0), "{}", text(&adopted));
    assert!(out.join(MARKER).is_file());
    assert!(!fixture.path("nix/.deps-layer-AbC123").exists());
    assert_eq!(fixture.read("nix/.deps-layer-notes/todo.txt"), "mine\n");
    let fresh = check(&fixture, &out);
    assert_eq!(fresh.status.code(), Some(0), "{}", text(&fresh));
}

/// `generate` paused at `step` while `change` runs on the file system, then resumed: its exit
/// status and all it wrote to stderr.
fn generate_changing_at(
    fixture: &Fixture,
    out: &Path,
    step: &str,
    change: impl FnOnce(),
) -> Output {
    let resume = fixture.root.parent().unwrap().join("resume");
    std::fs::write(&resume, "").unwrap();
    let (child, mut stderr, seen) = generate_paused_at(fixture, out, step, Some(&resume));
    change();
    std::fs::remove_file(&resume).unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let mut output = child.wait_with_output().unwrap();
    output.stderr = format!("{seen}{rest}").into_bytes();
    output
}

/// Between the check of `--out` and the swap, its parent is moved away and a link to another
/// folder put in its place, which holds an unmarked folder of the same name: that folder was once
/// swapped out and deleted. The parent is now held open from the check on.
#[test]
fn a_parent_replaced_by_a_link_during_generate_redirects_nothing() {
    for (step, succeeds) in [("claimed", false), ("staged", true)] {
        let fixture = Fixture::new("basic");
        let parent = fixture.path("nix");
        let out = parent.join("deps");
        let first = generate(&fixture, &out);
        assert_eq!(first.status.code(), Some(0), "{}", text(&first));
        let container = container(&fixture);
        let victim = container.join("victim");
        std::fs::create_dir_all(victim.join("deps")).unwrap();
        std::fs::write(victim.join("deps/notes"), "someone's\n").unwrap();
        let moved = container.join("nix-moved");
        fixture.edit(
            "Cargo.toml",
            "simd = { features = [\"server/simd\"] }",
            "simd = { features = [\"server/simd\", \"server/accel\"] }",
        );
        let before_victim = tree::snapshot(&victim);
        let before_layer = tree::snapshot(&out);

        let output = generate_changing_at(&fixture, &out, step, || {
            std::fs::rename(&parent, &moved).unwrap();
            std::os::unix::fs::symlink(&victim, &parent).unwrap();
        });
        let message = text(&output);
        tree::assert_unchanged(&before_victim, &tree::snapshot(&victim));
        if succeeds {
            // Held from the claim on: the layer went into the folder checked, now moved.
            assert_eq!(output.status.code(), Some(0), "{step}: {message}");
            assert_ne!(
                before_layer,
                tree::snapshot(&moved.join("deps")),
                "{step}: the new layer is in the folder held"
            );
        } else {
            assert_eq!(output.status.code(), Some(2), "{step}: {message}");
            assert!(
                message.contains("changed while it was checked"),
                "{step}: {message}"
            );
            tree::assert_unchanged(&before_layer, &tree::snapshot(&moved.join("deps")));
        }
        let beside: Vec<_> = std::fs::read_dir(&moved)
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(beside, ["deps"], "{step}: nothing is left beside the layer");
    }
}
