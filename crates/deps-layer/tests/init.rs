//! `deps-layer init` on the adopt fixture, a workspace shaped unlike this repository: what it
//! writes, that the layer it writes passes `check`, and that it refuses to overwrite.

mod common;
mod tree;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Fixture, deps_layer, text};

const LIBRARY: &str = "path:/x";

/// The variants table of the fixture, removed for the case of a workspace without one.
const VARIANTS_TABLE: &str =
    "\n[workspace.metadata.variants]\ncpu = {}\ngpu = { features = [\"adopt/gpu\"] }\n";

fn init(fixture: &Fixture, extra: &[&str]) -> Output {
    let manifest = fixture.manifest();
    let mut args = vec![
        "init",
        "--manifest-path",
        manifest.to_str().unwrap(),
        "--library",
        LIBRARY,
    ];
    args.extend(extra);
    deps_layer(&args)
}

fn check(fixture: &Fixture) -> Output {
    deps_layer(&[
        "check",
        "--manifest-path",
        fixture.manifest().to_str().unwrap(),
    ])
}

/// A program on PATH or in `$CARGO_HOME/bin` (where scripts/setup.sh installs alejandra).
fn find_program(name: &str) -> Option<PathBuf> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")));
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(cargo_home.map(|home| home.join("bin")))
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// The flake parses as Nix and is formatted as alejandra formats it, where those tools are found.
fn assert_valid_nix(path: &Path) {
    match find_program("nix-instantiate") {
        Some(nix) => {
            let output = Command::new(nix).arg("--parse").arg(path).output().unwrap();
            assert!(output.status.success(), "{}", text(&output));
        }
        None => println!("note: nix-instantiate not found; the flake.nix was not parsed"),
    }
    match find_program("alejandra") {
        Some(alejandra) => {
            let output = Command::new(alejandra)
                .arg("--check")
                .arg(path)
                .output()
                .unwrap();
            assert!(output.status.success(), "{}", text(&output));
        }
        None => println!("note: alejandra not found; the flake.nix formatting was not checked"),
    }
}

#[test]
fn init_writes_the_flake_and_the_layer_and_keeps_the_variants() {
    let fixture = Fixture::new("adopt");
    let manifest_before = fixture.read("Cargo.toml");

    let output = init(&fixture, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));

    let flake = fixture.read("flake.nix");
    assert!(
        flake.contains("description = \"adopt: packages, images and checks"),
        "{flake}"
    );
    for pin in deps_layer::init::PINS {
        assert_eq!(
            flake.matches(&format!("/{}\"", pin.rev)).count(),
            1,
            "{} pinned at {}: {flake}",
            pin.name,
            pin.rev
        );
    }
    for input in [
        "nixpkgs.url",
        "crane.url",
        "rust-overlay = {",
        "flake-utils.url",
        "advisory-db = {",
        "deps-layer = {",
    ] {
        assert!(flake.contains(&format!("    {input}")), "{input}: {flake}");
    }
    assert!(flake.contains(&format!("url = \"{LIBRARY}\";")), "{flake}");
    assert!(flake.contains("inputs.deps-layer.lib.mkFlake {"), "{flake}");
    assert_valid_nix(&fixture.path("flake.nix"));

    // The fixture's own table (cpu, gpu) is left as it is.
    assert_eq!(fixture.read("Cargo.toml"), manifest_before);
    assert!(fixture.path("nix/deps/plan.json").is_file());
    let layer = fixture.read("nix/deps/Cargo.toml");
    assert!(layer.contains("cudarc = "), "{layer}");
    assert!(
        !layer.contains("itoa"),
        "no variant enables fast-fmt: {layer}"
    );

    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in [
        "nix build .#default",
        "nix build .#image-gpu",
        "nix flake check",
        "nix run .#deps-layer -- check",
    ] {
        assert!(stdout.lines().any(|l| l == line), "{line}: {stdout}");
    }
    assert!(stdout.contains(".github/workflows/nix.yml"), "{stdout}");
    assert!(stdout.contains(LIBRARY), "{stdout}");

    let checked = check(&fixture);
    assert_eq!(checked.status.code(), Some(0), "{}", text(&checked));

    // Again without --force: refused, naming the flake and the option, nothing changed.
    let container = fixture.root.parent().unwrap();
    let before = tree::snapshot(container);
    let again = init(&fixture, &[]);
    let message = text(&again);
    assert_eq!(again.status.code(), Some(2), "{message}");
    assert!(
        message.contains(&fixture.path("flake.nix").display().to_string()),
        "{message}"
    );
    assert!(message.contains("--force"), "{message}");
    tree::assert_unchanged(&before, &tree::snapshot(container));

    // With --force: flake.nix is written again; the layer is regenerated to the same bytes.
    fixture.write("flake.nix", "{ outputs = _: {}; }\n");
    let before = tree::snapshot(container);
    let forced = init(&fixture, &["--force"]);
    assert_eq!(forced.status.code(), Some(0), "{}", text(&forced));
    assert_eq!(fixture.read("flake.nix"), flake);
    let mut after = tree::snapshot(container);
    let flake_key = fixture
        .path("flake.nix")
        .strip_prefix(container)
        .unwrap()
        .to_path_buf();
    after.insert(flake_key.clone(), before[&flake_key].clone());
    tree::assert_unchanged(&before, &after);
}

#[test]
fn init_appends_a_cpu_variant_to_a_workspace_without_a_table() {
    let fixture = Fixture::new("adopt");
    fixture.edit("Cargo.toml", VARIANTS_TABLE, "");
    let manifest_before = fixture.read("Cargo.toml");

    // The library's location from the environment, as a fork's CI would set it.
    let output = Command::new(env!("CARGO_BIN_EXE_deps-layer"))
        .args(["init", "--manifest-path"])
        .arg(fixture.manifest())
        .env("DEPS_LAYER_LIBRARY", "path:/from-env")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        fixture
            .read("flake.nix")
            .contains("url = \"path:/from-env\";")
    );

    let manifest = fixture.read("Cargo.toml");
    let added = manifest
        .strip_prefix(&manifest_before)
        .expect("the manifest's text is kept byte for byte");
    assert!(
        added.ends_with("\n[workspace.metadata.variants]\ncpu = {}\n"),
        "{added}"
    );
    assert!(
        added.contains("cuda = { packages = [\"<pkg>\"], features = [\"<pkg>/cuda\"] }"),
        "{added}"
    );
    let parsed: toml::Table = manifest.parse().unwrap();
    let variants = &parsed["workspace"]["metadata"]["variants"];
    assert_eq!(
        variants.as_table().unwrap().keys().collect::<Vec<_>>(),
        ["cpu"]
    );

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.lines().any(|l| l == "nix build .#image-cpu"),
        "{stdout}"
    );
    let plan = fixture.read("nix/deps/plan.json");
    assert!(plan.contains("\"image-cpu\""), "{plan}");
    assert_valid_nix(&fixture.path("flake.nix"));

    let checked = check(&fixture);
    assert_eq!(checked.status.code(), Some(0), "{}", text(&checked));
}

/// Runs `init` expecting exit code `code`, a message containing `expected`, and every file of
/// the fixture as it was.
fn assert_refused(fixture: &Fixture, code: i32, expected: &[&str]) {
    let container = fixture.root.parent().unwrap();
    let before = tree::snapshot(container);
    let output = init(fixture, &[]);
    let message = text(&output);
    assert_eq!(output.status.code(), Some(code), "{message}");
    for part in expected {
        assert!(message.contains(part), "expected {part:?} in: {message}");
    }
    tree::assert_unchanged(&before, &tree::snapshot(container));
}

#[test]
fn init_refuses_a_workspace_without_a_lock() {
    let fixture = Fixture::new("adopt");
    fixture.edit("Cargo.toml", VARIANTS_TABLE, "");
    std::fs::remove_file(fixture.path("Cargo.lock")).unwrap();
    let lock = fixture.path("Cargo.lock").display().to_string();
    assert_refused(
        &fixture,
        2,
        &[&format!("{lock} is missing"), "cargo generate-lockfile"],
    );
}

#[test]
fn init_refuses_a_nix_deps_it_did_not_write() {
    let fixture = Fixture::new("adopt");
    fixture.edit("Cargo.toml", VARIANTS_TABLE, "");
    fixture.write("nix/deps/notes.txt", "mine\n");
    assert_refused(
        &fixture,
        2,
        &[
            &format!("refusing to write {}", fixture.path("nix/deps").display()),
            "did not write it",
        ],
    );
}

#[test]
fn init_refuses_a_broken_manifest() {
    let fixture = Fixture::new("adopt");
    fixture.edit("Cargo.toml", "[features]", "[features");
    assert_refused(&fixture, 2, &["Cargo.toml"]);
}

/// A package without `[workspace]` whose path dependency is a workspace root of its own: the
/// appended table would make the root a workspace around it, which cargo refuses. The manifest is
/// restored and nothing else written.
#[test]
fn init_restores_the_manifest_when_the_table_breaks_the_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("solo");
    let write = |relative: &str, content: &str| {
        let path = root.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    };
    write(
        "Cargo.toml",
        "[package]\nname = \"solo\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [dependencies]\nsub = { path = \"sub\" }\n",
    );
    write("src/main.rs", "fn main() {}\n");
    write(
        "sub/Cargo.toml",
        "[package]\nname = \"sub\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    );
    write("sub/src/lib.rs", "");
    common::cargo_in(&root, &["generate-lockfile", "--offline"]);

    let before = tree::snapshot(dir.path());
    let manifest = root.join("Cargo.toml");
    let output = deps_layer(&[
        "init",
        "--manifest-path",
        manifest.to_str().unwrap(),
        "--library",
        LIBRARY,
    ]);
    let message = text(&output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert!(message.contains("no [workspace] table"), "{message}");
    assert!(message.contains("add the table by hand"), "{message}");
    tree::assert_unchanged(&before, &tree::snapshot(dir.path()));
}

/// The table went through a symlinked root manifest into the file it names, outside the
/// workspace.
#[test]
fn init_refuses_to_append_through_a_symlinked_manifest() {
    let fixture = Fixture::new("adopt");
    fixture.edit("Cargo.toml", VARIANTS_TABLE, "");
    let elsewhere = fixture.root.parent().unwrap().join("elsewhere.toml");
    std::fs::rename(fixture.manifest(), &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, fixture.manifest()).unwrap();
    assert_refused(
        &fixture,
        2,
        &[
            &format!("refusing to write {}", fixture.manifest().display()),
            "symbolic link",
            "add the table by hand",
        ],
    );
}

/// A root where flake.nix cannot be created (a read-only mount; Cargo.toml and nix/ writable, so
/// that only the flake fails): the manifest once kept the appended table with no flake beside
/// it. Now the flake is staged before anything else. Needs root and a private mount namespace
/// (util-linux's unshare); skipped where none can be made unless
/// DEPS_LAYER_REQUIRE_MOUNT_NAMESPACE=1, which scripts/test.sh sets.
#[test]
fn init_changes_nothing_when_the_flake_cannot_be_written() {
    let fixture = Fixture::new("adopt");
    fixture.edit("Cargo.toml", VARIANTS_TABLE, "");
    std::fs::create_dir_all(fixture.path("nix")).unwrap();
    let container = fixture.root.parent().unwrap();
    let before = tree::snapshot(container);
    let root = fixture.root.display().to_string();
    let script = r#"set -e
root=$1; shift
mount --make-rprivate /
mount --bind "$root" "$root"
mount --bind "$root/Cargo.toml" "$root/Cargo.toml"
mount --bind "$root/nix" "$root/nix"
mount -o remount,bind,ro "$root"
touch "$root/probe" 2>/dev/null && { echo "the root is still writable"; exit 90; }
exec "$@""#;
    let output = Command::new("unshare")
        .args(["-m", "sh", "-c", script, "sh", &root])
        .arg(env!("CARGO_BIN_EXE_deps-layer"))
        .args(["init", "--manifest-path"])
        .arg(fixture.manifest())
        .args(["--library", LIBRARY])
        .output();
    let namespace_failed = match &output {
        Err(_) => true,
        Ok(output) => output.status.code() == Some(1) && text(output).contains("unshare:"),
    };
    if namespace_failed {
        let required = std::env::var("DEPS_LAYER_REQUIRE_MOUNT_NAMESPACE").is_ok_and(|v| v == "1");
        assert!(!required, "no mount namespace: {output:?}");
        println!("SKIPPED: no mount namespace (root and util-linux's unshare needed): {output:?}");
        return;
    }
    let output = output.unwrap();
    let message = text(&output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert!(message.contains("flake.nix"), "{message}");
    assert!(message.contains("Read-only file system"), "{message}");
    tree::assert_unchanged(&before, &tree::snapshot(container));
}
