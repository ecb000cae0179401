//! The layer's lock: the workspace lock without the local packages, completed by cargo itself so
//! the synthetic packages' own entries are exactly what `--locked` expects.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::cargo::Cargo;
use crate::error::{Error, Result};

/// (name, version, source) of a lock entry; source is empty for local packages.
pub type LockKey = (String, String, String);

#[derive(Debug, Clone)]
pub struct LockFile {
    pub version: Option<i64>,
    /// key → checksum (empty when the entry has none).
    pub packages: BTreeMap<LockKey, String>,
    table: toml::Table,
}

impl LockFile {
    pub fn read(path: &Path) -> Result<LockFile> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        LockFile::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<LockFile> {
        let table: toml::Table = text.parse().map_err(|err: toml::de::Error| Error::Parse {
            path: path.to_path_buf(),
            message: err.message().to_string(),
        })?;
        let mut packages = BTreeMap::new();
        for package in entries(&table) {
            packages.insert(key_of(package), field(package, "checksum"));
        }
        Ok(LockFile {
            version: table.get("version").and_then(toml::Value::as_integer),
            packages,
            table,
        })
    }

    /// A git source without `#<commit>` would let cargo pick any revision.
    pub fn check_git_revisions(&self, path: &Path) -> Result<()> {
        for (name, _, source) in self.packages.keys() {
            if source.starts_with("git+") && !source.contains('#') {
                return Err(Error::UnlockedGit {
                    lock: path.to_path_buf(),
                    package: name.clone(),
                    source_id: source.clone(),
                });
            }
        }
        Ok(())
    }

    /// The lock without the given packages (and without the unused-patch bookkeeping, which
    /// cargo recomputes).
    pub fn without(&self, removed: &BTreeSet<LockKey>) -> String {
        let kept: Vec<toml::Value> = entries(&self.table)
            .filter(|package| !removed.contains(&key_of(package)))
            .map(|package| toml::Value::Table(package.clone()))
            .collect();
        let mut table = toml::Table::new();
        if let Some(version) = self.version {
            table.insert("version".into(), toml::Value::Integer(version));
        }
        table.insert("package".into(), toml::Value::Array(kept));
        toml::to_string(&table).unwrap_or_default()
    }
}

fn entries(table: &toml::Table) -> impl Iterator<Item = &toml::Table> {
    table
        .get("package")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(toml::Value::as_table)
}

fn field(table: &toml::Table, name: &str) -> String {
    table
        .get(name)
        .and_then(toml::Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn key_of(package: &toml::Table) -> LockKey {
    (
        field(package, "name"),
        field(package, "version"),
        field(package, "source"),
    )
}

/// Lets cargo add the synthetic packages' entries and drop what they do not reach, without moving
/// any external version, then proves the result is what `--locked` accepts.
pub fn complete(cargo: &Cargo, dir: &Path, workspace_lock: &LockFile) -> Result<String> {
    let offline = Cargo {
        offline: true,
        ..cargo.clone()
    };
    offline.run(dir, &["update", "--workspace", "--quiet"])?;
    offline.run(
        dir,
        &["metadata", "--format-version", "1", "--locked", "--quiet"],
    )?;
    let path = dir.join("Cargo.lock");
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Read {
        path: path.clone(),
        source,
    })?;
    let layer_lock = LockFile::parse(&path, &text)?;
    for (key, checksum) in &layer_lock.packages {
        if key.2.is_empty() {
            continue;
        }
        match workspace_lock.packages.get(key) {
            Some(original) if original == checksum => {}
            _ => {
                return Err(Error::LockMismatch(format!(
                    "{} {} ({}) is not locked that way in the workspace lock",
                    key.0, key.1, key.2
                )));
            }
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"
version = 4

[[package]]
name = "member"
version = "0.1.0"
dependencies = ["itoa"]

[[package]]
name = "itoa"
version = "1.0.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "abc"
"#;

    #[test]
    fn removes_local_packages_only() {
        let lock = LockFile::parse(Path::new("Cargo.lock"), LOCK).unwrap();
        let removed = BTreeSet::from([("member".to_string(), "0.1.0".to_string(), String::new())]);
        let pruned = LockFile::parse(Path::new("x"), &lock.without(&removed)).unwrap();
        assert_eq!(pruned.version, Some(4));
        assert_eq!(pruned.packages.len(), 1);
        assert!(pruned.packages.keys().all(|key| key.0 == "itoa"));
    }

    #[test]
    fn git_sources_need_a_locked_commit() {
        let locked = format!(
            "{LOCK}\n[[package]]\nname = \"g\"\nversion = \"0.1.0\"\nsource = \"git+https://h/g?branch=main#0123\"\n"
        );
        let lock = LockFile::parse(Path::new("Cargo.lock"), &locked).unwrap();
        assert!(lock.check_git_revisions(Path::new("Cargo.lock")).is_ok());
        let unlocked = locked.replace("#0123", "");
        let lock = LockFile::parse(Path::new("Cargo.lock"), &unlocked).unwrap();
        let err = lock
            .check_git_revisions(Path::new("Cargo.lock"))
            .unwrap_err();
        assert!(
            err.to_string().contains("`g` has no locked revision"),
            "{err}"
        );
    }
}
