//! The everyday changes whose effect on each layer key is measured. Each is applied to a fresh
//! copy of the workspace, and the lock is brought up to date the way a developer's next cargo
//! command would (members only, offline).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::BenchError;
use crate::fsutil;
use crate::workspace::{self, Workspace};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    EditSource,
    BumpMemberVersion,
    AddInternalCrate,
    BumpLockedDependency,
    AddTestFile,
}

impl Change {
    pub const ALL: [Change; 5] = [
        Change::EditSource,
        Change::BumpMemberVersion,
        Change::AddInternalCrate,
        Change::BumpLockedDependency,
        Change::AddTestFile,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Change::EditSource => "(a) edit a .rs file",
            Change::BumpMemberVersion => "(b) bump a member version",
            Change::AddInternalCrate => "(c) add an internal crate",
            Change::BumpLockedDependency => "(d) bump one external dep in the lock",
            Change::AddTestFile => "(e) add a tests/*.rs file",
        }
    }
}

/// Name of the crate that change (c) adds.
pub const PROBE_CRATE: &str = "layer-bench-probe";

/// `x.y.z` → `x.y.(z+1)`; pre-release and build suffixes are dropped.
pub fn bump_patch(version: &str) -> Result<String, BenchError> {
    let (major, minor, patch) = parse_version(version).ok_or_else(|| {
        BenchError::Invalid(format!("cannot bump version `{version}`: not x.y.z"))
    })?;
    Ok(format!("{major}.{minor}.{}", patch + 1))
}

/// `x.y.z` without pre-release; `None` for anything else.
pub fn parse_version(version: &str) -> Option<(u64, u64, u64)> {
    let core = version.split('+').next()?;
    if core.contains('-') {
        return None;
    }
    let mut parts = core.split('.');
    let parsed = (
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    );
    parts.next().is_none().then_some(parsed)
}

/// Whether cargo's default (caret) requirement on `from` also accepts `to`.
pub fn semver_compatible(from: (u64, u64, u64), to: (u64, u64, u64)) -> bool {
    match from {
        (0, 0, _) => from == to,
        (0, minor, _) => to.0 == 0 && to.1 == minor,
        (major, _, _) => to.0 == major,
    }
}

/// Sets `version` in `[table]` (`package` or `workspace.package`) by editing that one line, so the
/// rest of the manifest stays byte-identical.
/// Whether a member manifest takes its version from `[workspace.package]`.
pub fn inherits_version(manifest: &str, path: &Path) -> Result<bool, BenchError> {
    let table: toml::Table = toml::from_str(manifest).map_err(|source| BenchError::Toml {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(table
        .get("package")
        .and_then(|p| p.get("version"))
        .and_then(|v| v.get("workspace"))
        .and_then(|w| w.as_bool())
        .unwrap_or(false))
}

pub fn set_version(manifest: &str, table: &str, new_version: &str) -> Result<String, BenchError> {
    let header = format!("[{table}]");
    let mut out = Vec::new();
    let mut in_package = false;
    let mut done = false;
    for line in manifest.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            if in_package && !done {
                out.push(format!("version = \"{new_version}\""));
                done = true;
            }
            in_package = trimmed == header;
        } else if in_package && !done {
            let key = trimmed.split(['=', '.']).next().unwrap_or("").trim();
            if key == "version" {
                out.push(format!("version = \"{new_version}\""));
                done = true;
                continue;
            }
        }
        out.push(line.to_string());
    }
    if in_package && !done {
        out.push(format!("version = \"{new_version}\""));
        done = true;
    }
    if !done {
        return Err(BenchError::Invalid(
            "manifest has no [package] table".into(),
        ));
    }
    let mut text = out.join("\n");
    if manifest.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// `(name, version)` of every registry package in a `Cargo.lock`.
pub fn locked_registry_packages(
    lock: &str,
    path: &Path,
) -> Result<Vec<(String, String)>, BenchError> {
    let table: toml::Table = toml::from_str(lock).map_err(|source| BenchError::Toml {
        path: path.to_path_buf(),
        source,
    })?;
    let packages = table
        .get("package")
        .and_then(|p| p.as_array())
        .cloned()
        .unwrap_or_default();
    Ok(packages
        .iter()
        .filter(|p| {
            p.get("source")
                .and_then(|s| s.as_str())
                .is_some_and(|s| s.starts_with("registry+") || s.starts_with("sparse+"))
        })
        .filter_map(|p| {
            Some((
                p.get("name")?.as_str()?.to_string(),
                p.get("version")?.as_str()?.to_string(),
            ))
        })
        .collect())
}

/// Splits a registry cache file name (`name-1.2.3.crate`) at the last `-` followed by a digit.
pub fn split_crate_file(file_name: &str) -> Option<(String, String)> {
    let stem = file_name.strip_suffix(".crate")?;
    let bytes = stem.as_bytes();
    let split = (1..bytes.len())
        .rev()
        .find(|&i| bytes[i - 1] == b'-' && bytes[i].is_ascii_digit())?;
    Some((stem[..split - 1].to_string(), stem[split..].to_string()))
}

/// Lock bumps worth trying, best first: another semver-compatible, already downloaded version of
/// a locked crate, newer versions before older ones.
pub fn candidate_bumps(
    locked: &[(String, String)],
    downloaded: &BTreeMap<String, Vec<String>>,
) -> Vec<(String, String, String)> {
    let mut candidates = Vec::new();
    for (name, version) in locked {
        let Some(current) = parse_version(version) else {
            continue;
        };
        if locked.iter().filter(|(n, _)| n == name).count() > 1 {
            continue;
        }
        for other in downloaded.get(name).into_iter().flatten() {
            let Some(parsed) = parse_version(other) else {
                continue;
            };
            if parsed != current && semver_compatible(current, parsed) {
                candidates.push((
                    parsed < current,
                    name.clone(),
                    version.clone(),
                    other.clone(),
                ));
            }
        }
    }
    candidates.sort();
    candidates
        .into_iter()
        .map(|(_, name, from, to)| (name, from, to))
        .collect()
}

fn downloaded_crates(cargo_home: &Path) -> BTreeMap<String, Vec<String>> {
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let Ok(registries) = fs::read_dir(cargo_home.join("registry/cache")) else {
        return found;
    };
    for registry in registries.flatten() {
        let Ok(files) = fs::read_dir(registry.path()) else {
            continue;
        };
        for file in files.flatten() {
            if let Some((name, version)) = split_crate_file(&file.file_name().to_string_lossy()) {
                found.entry(name).or_default().push(version);
            }
        }
    }
    for versions in found.values_mut() {
        versions.sort();
        versions.dedup();
    }
    found
}

fn cargo(args: &[&str], manifest: &Path) -> Result<(), BenchError> {
    let command = format!(
        "cargo {} --manifest-path {}",
        args.join(" "),
        manifest.display()
    );
    let output = Command::new("cargo")
        .args(args)
        .arg("--manifest-path")
        .arg(manifest)
        .output()
        .map_err(|source| BenchError::Spawn {
            command: command.clone(),
            source,
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(BenchError::CommandFailed {
            command,
            dir: manifest.to_path_buf(),
            status: output.status.to_string(),
            tail: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}

/// Brings the members' entries of the lock up to date, as the next `cargo build` would; nothing
/// else in the lock moves.
fn refresh_lock(manifest: &Path) -> Result<(), BenchError> {
    cargo(
        &["metadata", "--format-version", "1", "--offline", "--quiet"],
        manifest,
    )
}

fn in_copy(ws: &Workspace, copy_root: &Path, original: &Path) -> PathBuf {
    copy_root.join(original.strip_prefix(&ws.root).unwrap_or(original))
}

fn first_member(ws: &Workspace) -> Result<&workspace::Member, BenchError> {
    ws.members
        .first()
        .ok_or_else(|| BenchError::Invalid(format!("{} has no members", ws.root.display())))
}

/// Applies `change` to `copy_root`, a copy of `ws`, and says what it did.
pub fn apply(
    change: Change,
    ws: &Workspace,
    copy_root: &Path,
    cargo_home: &Path,
) -> Result<String, BenchError> {
    let manifest = copy_root.join("Cargo.toml");
    match change {
        Change::EditSource => {
            let member = first_member(ws)?;
            let source = in_copy(ws, copy_root, &member.main_source);
            let mut text = fsutil::read_to_string(&source)?;
            text.push_str("\npub fn layer_bench_edit() -> u32 {\n    42\n}\n");
            fsutil::write(&source, &text)?;
            Ok(format!(
                "appended a function to `{}`",
                rel(copy_root, &source)
            ))
        }
        Change::BumpMemberVersion => {
            // A member that inherits its version is bumped where the version is written: in
            // `[workspace.package]`, as a release of such a workspace does.
            let member = first_member(ws)?;
            let member_manifest = in_copy(ws, copy_root, &member.manifest_path);
            let new_version = bump_patch(&member.version)?;
            let member_text = fsutil::read_to_string(&member_manifest)?;
            let what = if inherits_version(&member_text, &member_manifest)? {
                let root_text = fsutil::read_to_string(&manifest)?;
                fsutil::write(
                    &manifest,
                    &set_version(&root_text, "workspace.package", &new_version)?,
                )?;
                format!(
                    "`[workspace.package] version` {} → {new_version}, inherited by `{}` and the other members that use it",
                    member.version, member.name
                )
            } else {
                fsutil::write(
                    &member_manifest,
                    &set_version(&member_text, "package", &new_version)?,
                )?;
                format!("`{}` {} → {new_version}", member.name, member.version)
            };
            refresh_lock(&manifest)?;
            Ok(format!("{what} (lock refreshed)"))
        }
        Change::AddInternalCrate => add_internal_crate(ws, copy_root),
        Change::AddTestFile => {
            // Auto-discovered targets are part of some keys (cargo-chef's skeleton lists them).
            let member = first_member(ws)?;
            let dir = in_copy(
                ws,
                copy_root,
                member.manifest_path.parent().unwrap_or(&ws.root),
            );
            let test = dir.join("tests/layer_bench_probe.rs");
            fsutil::write(&test, "#[test]\nfn probe() {}\n")?;
            Ok(format!("new integration test `{}`", rel(copy_root, &test)))
        }
        Change::BumpLockedDependency => {
            let lock_path = copy_root.join("Cargo.lock");
            let locked =
                locked_registry_packages(&fsutil::read_to_string(&lock_path)?, &lock_path)?;
            let downloaded = downloaded_crates(cargo_home);
            let mut tried = Vec::new();
            for (name, from, to) in candidate_bumps(&locked, &downloaded).into_iter().take(20) {
                let spec = format!("{name}@{from}");
                if cargo(
                    &[
                        "update",
                        "--offline",
                        "--quiet",
                        "-p",
                        &spec,
                        "--precise",
                        &to,
                    ],
                    &manifest,
                )
                .is_ok()
                {
                    return Ok(format!(
                        "`{name}` {from} → {to} in Cargo.lock (`cargo update -p {spec} --precise {to}`)"
                    ));
                }
                tried.push(format!("{name} {from}→{to}"));
            }
            Err(BenchError::Invalid(format!(
                "no locked registry crate has another compatible version in {}/registry/cache (tried: {})",
                cargo_home.display(),
                if tried.is_empty() {
                    "none".into()
                } else {
                    tried.join(", ")
                }
            )))
        }
    }
}

fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// A new member next to an existing library member, using only that member: no external
/// dependency, so the external graph is unchanged.
fn add_internal_crate(ws: &Workspace, copy_root: &Path) -> Result<String, BenchError> {
    let member = ws
        .members
        .iter()
        .find(|m| m.has_lib)
        .map_or_else(|| first_member(ws), Ok)?;
    let member_dir = in_copy(
        ws,
        copy_root,
        member.manifest_path.parent().unwrap_or(copy_root),
    );
    let parent = member_dir.parent().unwrap_or(copy_root).to_path_buf();
    let probe_dir = parent.join(PROBE_CRATE);
    let dependency = if member.has_lib {
        let dir_name = member_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("{} = {{ path = \"../{dir_name}\" }}\n", member.name)
    } else {
        String::new()
    };
    fsutil::write(
        &probe_dir.join("Cargo.toml"),
        &format!(
            "[package]\nname = \"{PROBE_CRATE}\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n[dependencies]\n{dependency}"
        ),
    )?;
    fsutil::write(&probe_dir.join("src/lib.rs"), "pub fn probe() {}\n")?;

    let manifest = copy_root.join("Cargo.toml");
    let listed = workspace::load(&manifest)
        .map(|w| w.is_member(PROBE_CRATE))
        .unwrap_or(false);
    if !listed {
        let root_text = fsutil::read_to_string(&manifest)?;
        let entry = rel(copy_root, &probe_dir);
        let edited = add_member(&root_text, &entry).ok_or_else(|| {
            BenchError::Invalid(format!(
                "{} has no `members = [` list to add `{entry}` to",
                manifest.display()
            ))
        })?;
        fsutil::write(&manifest, &edited)?;
    }
    refresh_lock(&manifest)?;
    Ok(format!(
        "new member `{}` depending on `{}` only (lock refreshed)",
        rel(copy_root, &probe_dir),
        member.name
    ))
}

/// Adds `entry` at the front of the `members = [` list of a root manifest.
pub fn add_member(root_manifest: &str, entry: &str) -> Option<String> {
    let start = root_manifest.find("members")?;
    let bracket = start + root_manifest[start..].find('[')?;
    let mut text = root_manifest.to_string();
    text.insert_str(bracket + 1, &format!("\"{entry}\", "));
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bumps_patch_and_rejects_non_semver() {
        assert_eq!(bump_patch("0.1.9").unwrap(), "0.1.10");
        assert!(bump_patch("1.0").is_err());
    }

    #[test]
    fn caret_compatibility_follows_cargo_rules() {
        assert!(semver_compatible((1, 2, 3), (1, 9, 0)));
        assert!(!semver_compatible((1, 2, 3), (2, 0, 0)));
        assert!(semver_compatible((0, 3, 1), (0, 3, 7)));
        assert!(!semver_compatible((0, 3, 1), (0, 4, 0)));
        assert!(!semver_compatible((0, 0, 1), (0, 0, 2)));
    }

    #[test]
    fn version_line_is_replaced_inherited_or_not_and_nothing_else_moves() {
        let inherited = "[package]\nname = \"a\"\nversion.workspace = true\n\n[dependencies]\nversion = \"1\"\n";
        assert_eq!(
            set_version(inherited, "package", "0.1.1").unwrap(),
            "[package]\nname = \"a\"\nversion = \"0.1.1\"\n\n[dependencies]\nversion = \"1\"\n"
        );
        let explicit = "[package]\nversion = \"0.1.0\" # x\nname = \"a\"\n";
        assert_eq!(
            set_version(explicit, "package", "0.1.1").unwrap(),
            "[package]\nversion = \"0.1.1\"\nname = \"a\"\n"
        );
        let missing = "[package]\nname = \"a\"\n[lib]\n";
        assert_eq!(
            set_version(missing, "package", "1.0.0").unwrap(),
            "[package]\nname = \"a\"\nversion = \"1.0.0\"\n[lib]\n"
        );
        assert!(set_version("[workspace]\n", "package", "1.0.0").is_err());
        let root = "[workspace]\n[workspace.package]\nversion = \"0.1.0\"\nedition = \"2024\"\n";
        assert_eq!(
            set_version(root, "workspace.package", "0.1.1").unwrap(),
            "[workspace]\n[workspace.package]\nversion = \"0.1.1\"\nedition = \"2024\"\n"
        );
    }

    #[test]
    fn detects_inherited_versions() {
        let path = Path::new("Cargo.toml");
        assert!(inherits_version("[package]\nversion.workspace = true\n", path).unwrap());
        assert!(inherits_version("[package]\nversion = { workspace = true }\n", path).unwrap());
        assert!(!inherits_version("[package]\nversion = \"1.0.0\"\n", path).unwrap());
    }

    #[test]
    fn splits_registry_cache_file_names() {
        assert_eq!(
            split_crate_file("serde-1.0.228.crate"),
            Some(("serde".into(), "1.0.228".into()))
        );
        assert_eq!(
            split_crate_file("windows_x86_64_msvc-0.52.6.crate"),
            Some(("windows_x86_64_msvc".into(), "0.52.6".into()))
        );
        assert_eq!(
            split_crate_file("foo-1.0.0-beta.1.crate"),
            Some(("foo".into(), "1.0.0-beta.1".into()))
        );
        assert_eq!(split_crate_file("notes.txt"), None);
    }

    #[test]
    fn picks_compatible_downloaded_versions_newest_first() {
        let locked = vec![
            ("syn".to_string(), "2.0.100".to_string()),
            ("rand".to_string(), "0.8.5".to_string()),
            ("dup".to_string(), "1.0.0".to_string()),
            ("dup".to_string(), "2.0.0".to_string()),
        ];
        let downloaded = BTreeMap::from([
            (
                "syn".to_string(),
                vec!["1.0.109".into(), "2.0.90".into(), "2.0.117".into()],
            ),
            ("rand".to_string(), vec!["0.9.0".into()]),
            ("dup".to_string(), vec!["1.0.1".into()]),
        ]);
        assert_eq!(
            candidate_bumps(&locked, &downloaded),
            [
                (
                    "syn".to_string(),
                    "2.0.100".to_string(),
                    "2.0.117".to_string()
                ),
                (
                    "syn".to_string(),
                    "2.0.100".to_string(),
                    "2.0.90".to_string()
                ),
            ]
        );
    }

    #[test]
    fn reads_registry_packages_from_a_lock() {
        let lock = r#"
version = 4
[[package]]
name = "a"
version = "0.1.0"
[[package]]
name = "serde"
version = "1.0.228"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "00"
"#;
        assert_eq!(
            locked_registry_packages(lock, Path::new("Cargo.lock")).unwrap(),
            [("serde".to_string(), "1.0.228".to_string())]
        );
    }

    #[test]
    fn adds_a_member_to_the_members_list() {
        let root = "[workspace]\nresolver = \"2\"\nmembers = [\"crates/*\"]\n";
        assert_eq!(
            add_member(root, "extra/p").unwrap(),
            "[workspace]\nresolver = \"2\"\nmembers = [\"extra/p\", \"crates/*\"]\n"
        );
        assert_eq!(add_member("[package]\n", "p"), None);
    }
}
