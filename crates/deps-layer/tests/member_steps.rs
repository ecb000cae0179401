//! The chain of member steps, run the way the flake runs it, with real cargo: every step in the
//! same source folder holding the real files of its member and those before it (the rest of the
//! members as manifests only), every source file at Nix's modification time (1 s after the
//! epoch), the target folder carried from the step before with crane's archive time (the same),
//! and `member_steps::stage` and `invalidate` before cargo. For each step the list of members cargo compiled is
//! the expected one (crane's `compilesFresh` idea), no external unit is compiled, an edit reaches
//! the steps from its member's on and none before, and the binary reflects every edit.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::Fixture;
use deps_layer::member_steps::{MemberStep, invalidate, rebuildable, stage};
use deps_layer::plan_file::PlanFile;

/// Sets every file and folder under `dir` to Nix's (and crane's archives') modification time.
fn nix_time(dir: &Path) {
    let status = Command::new("find")
        .arg(dir)
        .args(["-exec", "touch", "-h", "-d", "@1", "{}", "+"])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Copies a folder keeping modification times, as crane's artifacts are carried.
fn copy_all(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Makes a step's target folder read-only, as the store keeps it (rustc refuses to write an
/// output that is a link to a read-only file: what linked carrying must never link).
fn store(dir: &Path) {
    nix_time(dir);
    let status = Command::new("chmod")
        .args(["-R", "a-w"])
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success());
}

/// The regular files under `dir` (links left out), relative to it.
fn regular_files(dir: &Path) -> Vec<String> {
    let output = Command::new("find")
        .arg(".")
        .args(["-type", "f"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(output.status.success());
    let mut files: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| line.trim_start_matches("./").to_string())
        .collect();
    files.sort();
    files
}

/// How a step's target folder comes from the previous step's.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Carry {
    /// Copied whole, as crane's archives unpack.
    Archived,
    /// From a read-only stored folder: links and copies (`linked_artifacts`), and after the
    /// build the unchanged files linked to the stored ones.
    Linked,
}

/// The step that owns a relative path: the one with the longest path that is it or holds it,
/// unless the folder of a member no step compiles (`others`) holds it more closely.
fn owner(steps: &[MemberStep], others: &[String], relative: &str) -> Option<usize> {
    let holds = |path: &str| relative == path || relative.starts_with(&format!("{path}/"));
    let step = steps
        .iter()
        .enumerate()
        .flat_map(|(index, step)| step.paths.iter().map(move |path| (index, path)))
        .filter(|(_, path)| holds(path))
        .max_by_key(|(_, path)| path.len());
    let other = others
        .iter()
        .filter(|path| holds(path))
        .map(String::len)
        .max();
    match (step, other) {
        (Some((_, path)), Some(other)) if other > path.len() => None,
        (step, _) => step.map(|(index, _)| index),
    }
}

/// The folders of the members no step compiles, relative to the root.
fn other_members(plan: &PlanFile, steps: &[MemberStep]) -> Vec<String> {
    plan.members
        .iter()
        .filter(|(name, _)| !steps.iter().any(|step| step.members.contains(name)))
        .filter_map(|(_, manifest)| Some(Path::new(manifest).parent()?.to_str()?.to_string()))
        .filter(|folder| !folder.is_empty())
        .collect()
}

/// The files of step `index`, relative to the root: what no step owns, what the steps up to it
/// own, and the manifests of the later members.
fn step_files(
    root: &Path,
    steps: &[MemberStep],
    others: &[String],
    index: usize,
) -> BTreeSet<String> {
    let manifests: BTreeSet<String> = steps
        .iter()
        .flat_map(|step| step.paths.iter().map(|path| format!("{path}/Cargo.toml")))
        .collect();
    let mut files = BTreeSet::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let relative = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if relative == "target" || relative == "nix" {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else if owner(steps, others, &relative).is_none_or(|owner| owner <= index)
                || manifests.contains(&relative)
            {
                files.insert(relative);
            }
        }
    }
    files
}

/// Content of a step's files, to tell whether an edit reached the step's inputs.
fn step_input(
    root: &Path,
    steps: &[MemberStep],
    others: &[String],
    index: usize,
) -> Vec<(String, String)> {
    step_files(root, steps, others, index)
        .into_iter()
        .map(|relative| {
            let content = std::fs::read_to_string(root.join(&relative)).unwrap();
            (relative, content)
        })
        .collect()
}

struct Chain {
    fixture: Fixture,
    steps: Vec<MemberStep>,
    /// The folders of the workspace's members no step compiles.
    others: Vec<String>,
    cargo_args: Vec<String>,
    /// The folder every step builds in (one path, as /build/source in every derivation).
    source: PathBuf,
    /// The layer's artifacts, and each step's, by index.
    layer: PathBuf,
    artifacts: Vec<PathBuf>,
    carry: Carry,
    _scratch: tempfile::TempDir,
}

/// What cargo did in one step.
#[derive(Debug)]
struct StepRun {
    members_compiled: BTreeSet<String>,
    external_compiled: Vec<String>,
}

impl Chain {
    fn new(carry: Carry) -> Chain {
        Chain::with_settings("", carry)
    }

    /// The diamond with `settings` in its `[workspace.metadata.deps-layer]`.
    fn with_settings(settings: &str, carry: Carry) -> Chain {
        let fixture = Fixture::new("diamond");
        if !settings.is_empty() {
            let manifest = fixture.read("Cargo.toml");
            fixture.write(
                "Cargo.toml",
                &format!("{manifest}\n[workspace.metadata.deps-layer]\n{settings}\n"),
            );
        }
        let layer = fixture.generate();
        let plan = PlanFile::parse(Path::new("plan.json"), &layer.files["plan.json"]).unwrap();
        let variant = plan.variant("cpu").unwrap();
        let steps = variant.member_steps.clone();
        let scratch = tempfile::tempdir().unwrap();
        let layer_dir = scratch.path().join("layer");
        deps_layer::generate::write_layer(&layer, &layer_dir).unwrap();
        let chain = Chain {
            others: other_members(&plan, &steps),
            steps,
            cargo_args: plan.with_profile(&variant.real_build_commands(false)[0]),
            source: scratch.path().join("source"),
            layer: scratch.path().join("target-layer"),
            artifacts: Vec::new(),
            carry,
            fixture,
            _scratch: scratch,
        };
        // The common layer, as crane builds it, then archived.
        let common = &plan.layers["common"];
        for args in common.commands() {
            let args = plan.with_profile(args);
            chain.cargo(&layer_dir.join(&common.dir), &chain.layer, &args);
        }
        match carry {
            Carry::Archived => nix_time(&chain.layer),
            Carry::Linked => store(&chain.layer),
        }
        chain
    }

    fn cargo(&self, dir: &Path, target: &Path, args: &[String]) -> std::process::Output {
        let output = Command::new(env!("CARGO"))
            .args(args)
            .arg("--message-format=json")
            .current_dir(dir)
            .env("CARGO_TARGET_DIR", target)
            .env("CARGO_BUILD_INCREMENTAL", "false")
            .env("CARGO_NET_OFFLINE", "true")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "cargo {args:?} in {}:\n{}",
            dir.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// Step `index` on the artifacts of the step before (the layer's for the first).
    fn run(&mut self, index: usize, marked: bool) -> StepRun {
        let _ = std::fs::remove_dir_all(&self.source);
        for relative in step_files(&self.fixture.root, &self.steps, &self.others, index) {
            let to = self.source.join(&relative);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(self.fixture.root.join(&relative), &to).unwrap();
        }
        nix_time(&self.source);
        stage(&self.source, &self.steps, index).unwrap();
        let previous = if index == 0 {
            self.layer.clone()
        } else {
            self.artifacts[index - 1].clone()
        };
        let target = self
            ._scratch
            .path()
            .join(format!("target-{index}-{}", marked));
        if target.exists() {
            let status = Command::new("chmod")
                .args(["-R", "u+w"])
                .arg(&target)
                .status()
                .unwrap();
            assert!(status.success());
            std::fs::remove_dir_all(&target).unwrap();
        }
        match self.carry {
            Carry::Archived => copy_all(&previous, &target),
            Carry::Linked => {
                let rebuildable = rebuildable(&self.steps);
                let carried =
                    deps_layer::linked_artifacts::inherit(&previous, &target, &rebuildable)
                        .unwrap();
                assert!(carried.linked > 0, "{carried:?}");
            }
        }
        if marked {
            // the layer holds no member's unit; every later step's folder holds its own
            let removed = invalidate(&target, &self.steps, index).unwrap();
            assert_eq!(
                removed == 0,
                index == 0,
                "step {index}: {removed} units removed"
            );
        }
        let output = self.cargo(&self.source, &target, &self.cargo_args);
        match self.carry {
            Carry::Archived => nix_time(&target),
            Carry::Linked => {
                deps_layer::linked_artifacts::link_unchanged(&target, &previous).unwrap();
                store(&target);
            }
        }
        if marked {
            self.artifacts.truncate(index);
            self.artifacts.push(target);
        }
        let mut run = StepRun {
            members_compiled: BTreeSet::new(),
            external_compiled: Vec::new(),
        };
        for artifact in deps_layer::build_log::artifacts(&output.stdout) {
            if artifact.fresh {
                continue;
            }
            if artifact.package_id.starts_with("path+") {
                let name = artifact
                    .package_id
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .split('#')
                    .next()
                    .unwrap()
                    .to_string();
                run.members_compiled.insert(name);
            } else {
                run.external_compiled.push(artifact.describe());
            }
        }
        run
    }

    /// Runs the steps from `from` on and returns the members each compiled.
    fn run_from(&mut self, from: usize) -> Vec<BTreeSet<String>> {
        (from..self.steps.len())
            .map(|index| {
                let run = self.run(index, true);
                assert!(
                    run.external_compiled.is_empty(),
                    "step {index} compiled external units: {:?}",
                    run.external_compiled
                );
                run.members_compiled
            })
            .collect()
    }

    fn binary_output(&self) -> String {
        self.output_of("top")
    }

    fn output_of(&self, binary: &str) -> String {
        let binary = self.artifacts.last().unwrap().join("release").join(binary);
        let output = Command::new(binary).output().unwrap();
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    }

    fn inputs(&self) -> Vec<Vec<(String, String)>> {
        (0..self.steps.len())
            .map(|index| step_input(&self.fixture.root, &self.steps, &self.others, index))
            .collect()
    }

    /// Edits a file and says which steps' inputs changed.
    fn edit(&self, relative: &str, from: &str, to: &str) -> Vec<bool> {
        let before = self.inputs();
        self.fixture.edit(relative, from, to);
        let after = self.inputs();
        before.iter().zip(&after).map(|(b, a)| b != a).collect()
    }
}

fn names(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|item| item.to_string()).collect()
}

#[test]
fn each_step_compiles_its_member_and_an_edit_rebuilds_from_its_step_on() {
    diamond_edits(Carry::Archived);
}

#[test]
fn linked_steps_compile_the_same_units_and_store_only_what_they_built() {
    diamond_edits(Carry::Linked);
}

fn diamond_edits(carry: Carry) {
    let mut chain = Chain::new(carry);
    let order: Vec<&str> = chain.steps.iter().map(|s| s.name.as_str()).collect();
    // top's binary gets a step of its own after its library: nothing depends on it.
    assert_eq!(order, ["base", "left", "right", "top", "top-bin"]);
    // left-fuzz, inside left's folder, is no step's: every step holds it (cargo loads it in
    // base's step too, where left's other files are left out).
    assert_eq!(chain.others, ["crates/left/fuzz"]);
    assert_eq!(chain.steps[4].output, "cpu");
    // top's binary in a folder of its own brings the folder, its modules with it.
    let mut binary_paths = chain.steps[4].paths.clone();
    binary_paths.sort();
    assert_eq!(
        binary_paths,
        ["crates/top/src/bin/top-report", "crates/top/src/main.rs"]
    );
    assert_eq!(chain.steps[0].output, "cpu-member-base");
    assert_eq!(chain.steps[3].output, "cpu-member-top");

    // Cold: the first step compiles base and stand-ins for the rest; each later step its own
    // member and the later members depending on it; the last one top's binary alone.
    let cold = chain.run_from(0);
    assert_eq!(
        cold,
        [
            names(&["base", "left", "right", "top"]),
            names(&["left", "top"]),
            names(&["right", "top"]),
            names(&["top"]),
            names(&["top"]),
        ]
    );
    let expected = |top: &str, bin: &str, left: &str, base: &str, word: &str| {
        let base = format!("{base}:{word}:7");
        format!("{bin} {top} {left}({base}) right-1({base})")
    };
    assert_eq!(
        chain.binary_output(),
        expected("top-1", "bin-1", "left-1", "base-1", "seed")
    );

    // Without cargo's record of its units removed a step takes its member's stand-in from the
    // step before as fresh (every file has the same time):
    // before as fresh: the hazard `stage` removes.
    let unmarked = chain.run(1, false);
    assert!(!unmarked.members_compiled.contains("left"), "{unmarked:?}");

    // A leaf edit of the binary: only the last step's inputs change.
    let changed = chain.edit("crates/top/src/main.rs", "bin-1", "bin-2");
    assert_eq!(changed, [false, false, false, false, true]);
    assert_eq!(chain.run_from(4), [names(&["top"])]);
    if carry == Carry::Linked {
        // What the binary's step stores beside links: the files of top's build alone.
        let stored = regular_files(chain.artifacts.last().unwrap());
        assert!(!stored.is_empty());
        assert!(stored.iter().all(|path| path.contains("top")), "{stored:?}");
    }
    assert_eq!(
        chain.binary_output(),
        expected("top-1", "bin-2", "left-1", "base-1", "seed")
    );

    // A module of the binary in its own folder: the last step alone too.
    let changed = chain.edit(
        "crates/top/src/bin/top-report/words.rs",
        "report-1",
        "report-2",
    );
    assert_eq!(changed, [false, false, false, false, true]);
    assert_eq!(chain.run_from(4), [names(&["top"])]);
    assert_eq!(
        chain.output_of("top-report"),
        format!(
            "report-2 {}",
            expected("top-1", "", "left-1", "base-1", "seed").trim_start()
        )
    );

    // top's library: its step and the binary's.
    let changed = chain.edit("crates/top/src/lib.rs", "top-1", "top-2");
    assert_eq!(changed, [false, false, false, true, true]);
    assert_eq!(chain.run_from(3), [names(&["top"]), names(&["top"])]);
    assert_eq!(
        chain.binary_output(),
        expected("top-2", "bin-2", "left-1", "base-1", "seed")
    );

    // A middle edit: left's step and those after it.
    let changed = chain.edit("crates/left/src/lib.rs", "left-1", "left-2");
    assert_eq!(changed, [false, true, true, true, true]);
    assert_eq!(
        chain.run_from(1),
        [
            names(&["left", "top"]),
            names(&["right", "top"]),
            names(&["top"]),
            names(&["top"])
        ]
    );
    assert_eq!(
        chain.binary_output(),
        expected("top-2", "bin-2", "left-2", "base-1", "seed")
    );

    // The most depended-on member: every step.
    let changed = chain.edit("crates/base/src/lib.rs", "base-1", "base-2");
    assert_eq!(changed, [true, true, true, true, true]);
    assert_eq!(chain.run_from(0), cold);
    assert_eq!(
        chain.binary_output(),
        expected("top-2", "bin-2", "left-2", "base-2", "seed")
    );

    // A file no member folder holds belongs to the first step: the whole chain.
    let changed = chain.edit("assets/schema.sql", "seed", "grown");
    assert_eq!(changed, [true, true, true, true, true]);
    chain.run_from(0);
    assert_eq!(
        chain.binary_output(),
        expected("top-2", "bin-2", "left-2", "base-2", "grown")
    );

    // So does a file of a member no step compiles, even inside a later member's folder.
    let changed = chain.edit(
        "crates/left/fuzz/fuzz_targets/left.rs",
        "left::left()",
        "left::left().len()",
    );
    assert_eq!(changed, [true, true, true, true, true]);
}

#[test]
fn grouped_libraries_then_binaries_a_binary_edit_runs_one_step() {
    let mut chain = Chain::with_settings("member-steps = \"binaries\"", Carry::Linked);
    let shape: Vec<(&str, Vec<&str>, &str)> = chain
        .steps
        .iter()
        .map(|step| {
            let members = step.members.iter().map(String::as_str).collect();
            (step.name.as_str(), members, step.output.as_str())
        })
        .collect();
    assert_eq!(
        shape,
        [
            (
                "libraries",
                vec!["base", "left", "right", "top"],
                "cpu-member-libraries"
            ),
            ("binaries", vec!["top"], "cpu"),
        ]
    );
    let all = names(&["base", "left", "right", "top"]);
    assert_eq!(chain.run_from(0), [all.clone(), names(&["top"])]);

    let changed = chain.edit("crates/top/src/main.rs", "bin-1", "bin-2");
    assert_eq!(changed, [false, true]);
    assert_eq!(chain.run_from(1), [names(&["top"])]);

    let changed = chain.edit("crates/left/src/lib.rs", "left-1", "left-2");
    assert_eq!(changed, [true, true]);
    assert_eq!(chain.run_from(0), [all, names(&["top"])]);
    assert_eq!(
        chain.binary_output(),
        "bin-2 top-1 left-2(base-1:seed:7) right-1(base-1:seed:7)"
    );
}

#[test]
fn staging_refuses_a_later_member_s_file_in_the_step() {
    let fixture = Fixture::new("diamond");
    let layer = fixture.generate();
    let plan = PlanFile::parse(Path::new("plan.json"), &layer.files["plan.json"]).unwrap();
    let steps = &plan.variant("cpu").unwrap().member_steps;
    // The whole workspace is no step's source: left's files are there in base's step.
    let err = stage(&fixture.root, steps, 0).unwrap_err().to_string();
    assert!(
        err.contains("crates/") && err.contains("later step"),
        "{err}"
    );
    assert!(err.contains("`base`") && err.contains("`left`"), "{err}");
}
