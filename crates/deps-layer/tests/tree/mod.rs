//! Snapshots of a folder tree, to prove that a refused command left every file as it was.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What is at one path: a folder, a file's bytes, or a link's target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Dir,
    File(Vec<u8>),
    Link(PathBuf),
}

/// Every path under `root` (relative), without following links.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Entry> {
    let mut entries = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let relative = path.strip_prefix(root).unwrap().to_path_buf();
            let kind = path.symlink_metadata().unwrap().file_type();
            let entry = if kind.is_symlink() {
                Entry::Link(std::fs::read_link(&path).unwrap())
            } else if kind.is_dir() {
                stack.push(path.clone());
                Entry::Dir
            } else {
                Entry::File(std::fs::read(&path).unwrap())
            };
            entries.insert(relative, entry);
        }
    }
    entries
}

/// Asserts that two snapshots are equal, naming the first path that differs.
pub fn assert_unchanged(before: &BTreeMap<PathBuf, Entry>, after: &BTreeMap<PathBuf, Entry>) {
    for (path, entry) in before {
        match after.get(path) {
            None => panic!("{} was removed", path.display()),
            Some(found) => assert!(found == entry, "{} was changed", path.display()),
        }
    }
    for path in after.keys() {
        assert!(before.contains_key(path), "{} was created", path.display());
    }
}
