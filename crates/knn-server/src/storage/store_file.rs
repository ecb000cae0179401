//! What is found in the data directory before SQLite opens it: whether the directory can be
//! written, and whether the database file is a store, nothing yet, or something else.
//!
//! SQLite takes a zero-length file for an empty database and would silently start a new store
//! over what may be a truncated one; it reports a read-only directory as "unable to open database
//! file". Both are told apart here, before anything is written.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read};
use std::path::Path;

use super::StorageError;

/// The first 16 bytes of every SQLite database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// The database file as found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileState {
    Missing,
    /// Zero bytes long.
    Empty,
    /// Starts with the SQLite header; whether it holds a store is for SQLite to say.
    Sqlite,
}

/// Creates `data_dir` if needed and checks that files can be created in it.
pub fn prepare_data_dir(data_dir: &Path) -> Result<(), StorageError> {
    std::fs::create_dir_all(data_dir).map_err(|source| {
        if is_read_only(&source) {
            StorageError::ReadOnly {
                path: data_dir.to_owned(),
                source,
            }
        } else {
            StorageError::CreateDir {
                path: data_dir.to_owned(),
                source,
            }
        }
    })?;
    // A permission check cannot tell: root passes mode bits, and a read-only mount has any mode.
    // So a file is created (exclusively, under a name no one else uses) and removed again.
    let probe = data_dir.join(format!(".knn-server-write-check-{}", std::process::id()));
    match OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(file) => {
            drop(file);
            std::fs::remove_file(&probe).map_err(|source| StorageError::Io {
                path: probe,
                source,
            })
        }
        Err(source) if is_read_only(&source) => Err(StorageError::ReadOnly {
            path: data_dir.to_owned(),
            source,
        }),
        Err(source) => Err(StorageError::Io {
            path: probe,
            source,
        }),
    }
}

/// Inspects the database file without changing it.
pub fn inspect(file: &Path) -> Result<FileState, StorageError> {
    let io_error = |source| StorageError::Io {
        path: file.to_owned(),
        source,
    };
    let mut handle = match File::open(file) {
        Ok(handle) => handle,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(FileState::Missing),
        Err(source) => return Err(io_error(source)),
    };
    let mut header = Vec::with_capacity(SQLITE_HEADER.len());
    (&mut handle)
        .take(SQLITE_HEADER.len() as u64)
        .read_to_end(&mut header)
        .map_err(io_error)?;
    if header.is_empty() {
        return Ok(FileState::Empty);
    }
    if header != SQLITE_HEADER {
        return Err(StorageError::NotAStore {
            path: file.to_owned(),
            reason: "it is not an SQLite database (no SQLite header); it is left untouched".into(),
        });
    }
    // Opening for writing neither creates nor truncates; it only asks whether writes will work.
    if let Err(source) = OpenOptions::new().write(true).open(file)
        && is_read_only(&source)
    {
        return Err(StorageError::ReadOnly {
            path: file.to_owned(),
            source,
        });
    }
    Ok(FileState::Sqlite)
}

fn is_read_only(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_missing_empty_sqlite_and_foreign_files_apart() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("db");
        assert_eq!(inspect(&file).unwrap(), FileState::Missing);
        std::fs::write(&file, b"").unwrap();
        assert_eq!(inspect(&file).unwrap(), FileState::Empty);
        std::fs::write(&file, b"SQLite format 3\0and pages").unwrap();
        assert_eq!(inspect(&file).unwrap(), FileState::Sqlite);
        std::fs::write(&file, b"{\"not\": \"a database\"}").unwrap();
        let error = inspect(&file).unwrap_err().to_string();
        assert!(error.contains("not an SQLite database"), "{error}");
        assert_eq!(
            std::fs::read(&file).unwrap(),
            b"{\"not\": \"a database\"}",
            "inspection changes nothing"
        );
    }

    #[test]
    fn a_writable_directory_is_created_and_left_without_the_probe() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("a/b");
        prepare_data_dir(&data_dir).unwrap();
        assert_eq!(std::fs::read_dir(&data_dir).unwrap().count(), 0);
    }
}
