//! Cache keys of the layer strategies. Each function reproduces what decides, for that strategy,
//! whether a cached dependency layer can be reused: a Nix store path hashes its content, a Docker
//! layer hashes the files its stage copies. Two equal keys mean the layer is reused.

use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::BenchError;

/// Hash of named byte strings, independent of the order they are given in. Names are part of the
/// hash, so moving a file changes the key, as it does for a store path.
pub fn hash_entries(entries: &[(String, Vec<u8>)]) -> String {
    let mut sorted: Vec<&(String, Vec<u8>)> = entries.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut hasher = Sha256::new();
    for (name, content) in sorted {
        hasher.update(name.as_bytes());
        hasher.update([0u8]);
        hasher.update((content.len() as u64).to_le_bytes());
        hasher.update(content);
    }
    hex(&hasher.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn read(path: &Path) -> Result<Vec<u8>, BenchError> {
    fs::read(path).map_err(|source| BenchError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn relative_name(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// Every regular file under `root`, sorted by path.
fn files_under(root: &Path, keep_dir: &dyn Fn(&Path) -> bool) -> Result<Vec<PathBuf>, BenchError> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = fs::read_dir(&dir).map_err(|source| BenchError::Io {
            path: dir.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| BenchError::Io {
                path: dir.clone(),
                source,
            })?;
            let path = entry.path();
            let file_type = entry.file_type().map_err(|source| BenchError::Io {
                path: path.clone(),
                source,
            })?;
            if file_type.is_dir() {
                if keep_dir(&path) {
                    pending.push(path);
                }
            } else if file_type.is_file() {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Key of a directory taken whole into a store path: every file's relative path and content.
/// Used for the generated deps-layer output.
pub fn directory_key(root: &Path) -> Result<String, BenchError> {
    let files = files_under(root, &|_| true)?;
    let mut entries = Vec::with_capacity(files.len());
    for file in files {
        entries.push((relative_name(root, &file), read(&file)?));
    }
    Ok(hash_entries(&entries))
}

/// Key of an explicit list of files (a Docker stage's `COPY` lines), each named by its path
/// relative to `root`.
pub fn files_key(root: &Path, files: &[PathBuf]) -> Result<String, BenchError> {
    let mut entries = Vec::with_capacity(files.len());
    for file in files {
        entries.push((relative_name(root, file), read(file)?));
    }
    Ok(hash_entries(&entries))
}

/// Manifest fields crane's default `cleanCargoToml` filter (`filters.cargoTomlConservative`)
/// drops before the manifest enters the dummy source. Everything else, `package.version`
/// included, stays and so reaches the key.
const CRANE_DROPPED_PACKAGE_FIELDS: &[&str] = &[
    "authors",
    "autobenches",
    "autobins",
    "autoexamples",
    "autotests",
    "build",
    "categories",
    "default-run",
    "default_run",
    "description",
    "documentation",
    "exclude",
    "homepage",
    "include",
    "keywords",
    "license-file",
    "license_file",
    "license",
    "links",
    "metadata",
    "publish",
    "readme",
    "repository",
    "rust-version",
    "rust_version",
];
const CRANE_DROPPED_TARGET_FIELDS: &[&str] = &[
    "test",
    "doctest",
    "bench",
    "doc",
    "plugin",
    "required-features",
    "required_features",
];
const CRANE_TARGET_TABLES: &[&str] = &["lib", "bin", "example", "test", "bench"];

/// A manifest as crane's `mkDummySrc` writes it (conservative filter), in a canonical
/// serialisation so that only content, not formatting, reaches the key: crane also parses the
/// TOML and writes it back out.
pub fn crane_clean_manifest(manifest: &str, path: &Path) -> Result<String, BenchError> {
    let mut table: toml::Table = toml::from_str(manifest).map_err(|source| BenchError::Toml {
        path: path.to_path_buf(),
        source,
    })?;
    table.remove("badges");
    table.remove("lints");
    if let Some(toml::Value::Table(package)) = table.get_mut("package") {
        for field in CRANE_DROPPED_PACKAGE_FIELDS {
            package.remove(*field);
        }
    }
    if let Some(toml::Value::Table(workspace)) = table.get_mut("workspace") {
        workspace.remove("lints");
        workspace.remove("metadata");
    }
    for kind in CRANE_TARGET_TABLES {
        let targets: Vec<&mut toml::Table> = match table.get_mut(*kind) {
            Some(toml::Value::Table(one)) => vec![one],
            Some(toml::Value::Array(many)) => {
                many.iter_mut().filter_map(|v| v.as_table_mut()).collect()
            }
            _ => Vec::new(),
        };
        for target in targets {
            for field in CRANE_DROPPED_TARGET_FIELDS {
                target.remove(*field);
            }
        }
    }
    toml::to_string(&table).map_err(|source| BenchError::TomlWrite {
        path: path.to_path_buf(),
        source,
    })
}

fn is_build_output_or_hidden(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name == "target" || (name.starts_with('.') && name != ".cargo")
}

/// Auto-discovered sources crane replaces with a stub in the dummy source (`src/lib.rs`,
/// `src/main.rs`, `src/bin/*`): their contents do not matter, their existence does. Declared
/// targets are covered by the manifest itself; `tests/*.rs` are not stubbed.
fn crane_stubbed_sources(package_dir: &Path) -> Vec<PathBuf> {
    let src = package_dir.join("src");
    let mut stubs: Vec<PathBuf> = ["lib.rs", "main.rs"]
        .iter()
        .map(|f| src.join(f))
        .filter(|p| p.is_file())
        .collect();
    if let Ok(entries) = fs::read_dir(src.join("bin")) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_file() && path.extension().is_some_and(|e| e == "rs") {
                stubs.push(path);
            } else if path.join("main.rs").is_file() {
                stubs.push(path.join("main.rs"));
            }
        }
    }
    stubs.sort();
    stubs
}

/// crane's key for `buildDepsOnly` without `dummySrc`: every `Cargo.toml` under the source
/// (cleaned), every `.cargo/config{,.toml}`, and the whole `Cargo.lock`.
pub fn crane_key(workspace_root: &Path) -> Result<String, BenchError> {
    let files = files_under(workspace_root, &|dir| !is_build_output_or_hidden(dir))?;
    let mut entries = Vec::new();
    for file in files {
        let name = relative_name(workspace_root, &file);
        let file_name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let in_dot_cargo = file
            .parent()
            .and_then(|p| p.file_name())
            .is_some_and(|n| n == ".cargo");
        if file_name == "Cargo.toml" {
            let text = String::from_utf8_lossy(&read(&file)?).into_owned();
            entries.push((name, crane_clean_manifest(&text, &file)?.into_bytes()));
            if let Some(dir) = file.parent() {
                for stub in crane_stubbed_sources(dir) {
                    entries.push((relative_name(workspace_root, &stub), b"stub".to_vec()));
                }
            }
        } else if (in_dot_cargo && (file_name == "config.toml" || file_name == "config"))
            || name == "Cargo.lock"
        {
            entries.push((name, read(&file)?));
        }
    }
    Ok(hash_entries(&entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, content: &str) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }

    #[test]
    fn entry_order_does_not_matter_but_names_and_contents_do() {
        let a = ("a".to_string(), b"1".to_vec());
        let b = ("b".to_string(), b"2".to_vec());
        let key = hash_entries(&[a.clone(), b.clone()]);
        assert_eq!(key, hash_entries(&[b.clone(), a.clone()]));
        assert_ne!(
            key,
            hash_entries(&[a.clone(), ("c".to_string(), b"2".to_vec())])
        );
        assert_ne!(key, hash_entries(&[a, ("b".to_string(), b"3".to_vec())]));
        assert_eq!(key.len(), 64);
    }

    #[test]
    fn entry_boundaries_are_part_of_the_hash() {
        let split = hash_entries(&[("a".into(), b"bc".to_vec())]);
        let moved = hash_entries(&[("ab".into(), b"c".to_vec())]);
        assert_ne!(split, moved);
    }

    #[test]
    fn directory_key_follows_every_file() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "Cargo.toml", "[package]\n");
        write(dir.path(), "src/lib.rs", "");
        let before = directory_key(dir.path()).unwrap();
        assert_eq!(before, directory_key(dir.path()).unwrap());
        write(dir.path(), "src/lib.rs", "// x\n");
        assert_ne!(before, directory_key(dir.path()).unwrap());
    }

    #[test]
    fn crane_cleaning_keeps_version_and_deps_and_drops_descriptive_fields() {
        let manifest = r#"
[package]
name = "a"
version = "0.1.0"
description = "words"
[dependencies]
serde = "1"
[[bin]]
name = "a"
test = false
"#;
        let cleaned = crane_clean_manifest(manifest, Path::new("Cargo.toml")).unwrap();
        let reparsed: toml::Table = toml::from_str(&cleaned).unwrap();
        assert_eq!(reparsed["package"]["version"].as_str(), Some("0.1.0"));
        assert!(reparsed["package"].get("description").is_none());
        assert!(reparsed["dependencies"].get("serde").is_some());
        assert!(reparsed["bin"][0].get("test").is_none());
    }

    #[test]
    fn crane_key_ignores_sources_and_descriptions_but_not_versions_or_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "Cargo.toml", "[workspace]\nmembers = [\"a\"]\n");
        write(root, "Cargo.lock", "version = 4\n");
        write(
            root,
            "a/Cargo.toml",
            "[package]\nname = \"a\"\nversion = \"0.1.0\"\n",
        );
        write(root, "a/src/lib.rs", "");
        write(root, "target/x/Cargo.toml", "not toml at all [");
        let base = crane_key(root).unwrap();

        write(root, "a/src/lib.rs", "pub fn f() {}\n");
        write(
            root,
            "a/Cargo.toml",
            "[package]\nname = \"a\"\nversion = \"0.1.0\"\ndescription = \"d\"\n",
        );
        assert_eq!(base, crane_key(root).unwrap());

        write(
            root,
            "a/Cargo.toml",
            "[package]\nname = \"a\"\nversion = \"0.1.1\"\n",
        );
        let bumped = crane_key(root).unwrap();
        assert_ne!(base, bumped);

        write(root, "Cargo.lock", "version = 4\n# changed\n");
        let relocked = crane_key(root).unwrap();
        assert_ne!(bumped, relocked);

        write(root, "a/tests/t.rs", "#[test]\nfn t() {}\n");
        assert_eq!(relocked, crane_key(root).unwrap());
        write(root, "a/src/bin/tool.rs", "fn main() {}\n");
        assert_ne!(relocked, crane_key(root).unwrap());
    }

    #[test]
    fn files_key_covers_only_the_listed_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "Cargo.toml", "x");
        write(root, "other.rs", "y");
        let listed = [root.join("Cargo.toml")];
        let before = files_key(root, &listed).unwrap();
        write(root, "other.rs", "z");
        assert_eq!(before, files_key(root, &listed).unwrap());
        write(root, "Cargo.toml", "w");
        assert_ne!(before, files_key(root, &listed).unwrap());
    }

    #[test]
    fn unreadable_manifest_is_an_error_naming_the_file() {
        let err = crane_clean_manifest("[package", Path::new("x/Cargo.toml")).unwrap_err();
        assert!(err.to_string().contains("x/Cargo.toml"), "{err}");
    }
}
