//! Copies of the workspace: every measurement and every everyday change works on its own copy,
//! never on the tree the user pointed at.

use std::fs;
use std::path::Path;

use crate::error::BenchError;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BenchError + '_ {
    move |source| BenchError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Copies `from` into `to` (created), leaving out build outputs and VCS data: what a source
/// filter (crane's, or a `.dockerignore`) keeps.
pub fn copy_workspace(from: &Path, to: &Path) -> Result<(), BenchError> {
    fs::create_dir_all(to).map_err(io(to))?;
    for entry in fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let name = entry.file_name();
        if name == "target" || name == ".git" || name == "result" {
            continue;
        }
        let source = entry.path();
        let dest = to.join(&name);
        let file_type = entry.file_type().map_err(io(&source))?;
        if file_type.is_dir() {
            copy_workspace(&source, &dest)?;
        } else if file_type.is_symlink() {
            let resolved = fs::canonicalize(&source).map_err(io(&source))?;
            if resolved.is_dir() {
                copy_workspace(&resolved, &dest)?;
            } else {
                fs::copy(&resolved, &dest).map_err(io(&source))?;
            }
        } else {
            fs::copy(&source, &dest).map_err(io(&source))?;
        }
    }
    Ok(())
}

pub fn remove_dir_if_present(dir: &Path) -> Result<(), BenchError> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(BenchError::Io {
            path: dir.to_path_buf(),
            source: e,
        }),
    }
}

pub fn write(path: &Path, content: &str) -> Result<(), BenchError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io(parent))?;
    }
    fs::write(path, content).map_err(io(path))
}

pub fn read_to_string(path: &Path) -> Result<String, BenchError> {
    fs::read_to_string(path).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_leaves_out_target_and_git() {
        let from = tempfile::tempdir().unwrap();
        let to = tempfile::tempdir().unwrap();
        write(&from.path().join("a/src/lib.rs"), "x").unwrap();
        write(&from.path().join("target/release/big"), "y").unwrap();
        write(&from.path().join(".git/HEAD"), "z").unwrap();
        copy_workspace(from.path(), &to.path().join("copy")).unwrap();
        assert_eq!(
            read_to_string(&to.path().join("copy/a/src/lib.rs")).unwrap(),
            "x"
        );
        assert!(!to.path().join("copy/target").exists());
        assert!(!to.path().join("copy/.git").exists());
    }
}
