//! Cargo target folders carried from one member step to the next by linking, not by unpacking
//! an archive: a step starts from the previous step's stored folder with the files cargo never
//! writes again linked to where they are stored, and its own output links every file it did not
//! change to the stored one. So a step reads the external units from the unpacked layer in place
//! instead of decompressing the layer and every step before it, and stores only what it built.
//!
//! Only external libraries are links (`deps/*.rlib`, `.rmeta`, `.so`: most of a target folder's
//! bytes): every one is the layer's, and a step compiles no external unit. rustc refuses to write
//! an output that is a link to a read-only file, so one compiled again by mistake fails loudly
//! instead of writing into the store. The members' libraries are copies (a step compiles its
//! own, and others can compile again: `member_steps::rebuildable`), as is everything else:
//! fingerprints and dependency files, which cargo rewrites in place, and build scripts' folders,
//! whose outputs a build script run again would write through a link.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The libraries a step may compile again: the members'.
#[derive(Debug, Default, Clone)]
pub struct Rebuildable {
    /// Library crate names (`knn_core`): their `deps/lib<name>-<hash>.rlib` and the like.
    pub crates: BTreeSet<String>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Carried {
    pub linked: usize,
    pub copied: usize,
}

/// The file `inherit` leaves in the target folder it made: `link_unchanged` replaces files only
/// in such a folder, never in one it did not make.
pub const CARRIED_MARKER: &str = ".deps-layer-carried";

/// Fills `target` (created, must not exist) from the stored folder `previous`: links for the
/// files no build of this step rewrites, copies of the rest, each with its stored time.
pub fn inherit(previous: &Path, target: &Path, rebuildable: &Rebuildable) -> Result<Carried> {
    if std::fs::symlink_metadata(target).is_ok() {
        return Err(Error::Refused {
            path: target.to_path_buf(),
            reason: "the step's target folder already exists; artifacts are carried into a new one"
                .into(),
        });
    }
    let mut carried = Carried::default();
    carry_dir(previous, target, Path::new(""), rebuildable, &mut carried)?;
    crate::output::write_file(
        &target.join(CARRIED_MARKER),
        "target folder carried by deps-layer member-step --link-from\n",
    )?;
    Ok(carried)
}

fn carry_dir(
    previous: &Path,
    target: &Path,
    relative: &Path,
    rebuildable: &Rebuildable,
    carried: &mut Carried,
) -> Result<()> {
    let to = target.join(relative);
    std::fs::create_dir_all(&to).map_err(|source| Error::Write {
        path: to.clone(),
        source,
    })?;
    let from = previous.join(relative);
    for entry in read_dir_sorted(&from)? {
        let name = entry.file_name();
        // cargo's build locks: one left from the stored build would look held.
        if name == ".cargo-lock" {
            continue;
        }
        let relative = relative.join(&name);
        let stored = resolve(&previous.join(&relative))?;
        let metadata = std::fs::metadata(&stored).map_err(|source| Error::Read {
            path: stored.clone(),
            source,
        })?;
        if metadata.is_dir() {
            carry_dir(previous, target, &relative, rebuildable, carried)?;
        } else if never_rewritten(&relative, rebuildable) {
            symlink(&stored, &target.join(&relative))?;
            carried.linked += 1;
        } else {
            copy_writable(&stored, &target.join(&relative), &metadata)?;
            carried.copied += 1;
        }
    }
    // A folder's time is a unit's too (a build script's `out`): the stored one, as for files.
    let stored_time = std::fs::metadata(&from)
        .and_then(|metadata| metadata.modified())
        .map_err(|source| Error::Read {
            path: from.clone(),
            source,
        })?;
    std::fs::File::open(&to)
        .and_then(|folder| folder.set_modified(stored_time))
        .map_err(|source| Error::Write {
            path: to.clone(),
            source,
        })
}

/// Whether no build of this step writes the file at `relative` (inside a target folder) again.
fn never_rewritten(relative: &Path, rebuildable: &Rebuildable) -> bool {
    let parts: Vec<&str> = relative.iter().filter_map(|part| part.to_str()).collect();
    let Some(file) = parts.last() else {
        return false;
    };
    let Some(folder) = parts.len().checked_sub(2).map(|at| parts[at]) else {
        return false;
    };
    if folder == "deps" {
        let library = file.ends_with(".rlib") || file.ends_with(".rmeta") || file.ends_with(".so");
        // lib<crate>-<hash>.rlib, or lib<crate>.so for a cdylib
        let crate_name = file
            .strip_prefix("lib")
            .and_then(|rest| rest.split(['-', '.']).next());
        return library && crate_name.is_some_and(|name| !rebuildable.crates.contains(name));
    }
    // Everything else is copied, build scripts' folders included: a build script that ran
    // again would write its outputs through a link, into the store when the build runs as root.
    false
}

/// Replaces every file in `target` that is byte for byte the file at the same place in the
/// stored folder `previous` by a link to the stored one, so the step's output holds only what
/// its build wrote. Links already in `target` stay. Returns how many files were linked.
pub fn link_unchanged(target: &Path, previous: &Path) -> Result<usize> {
    if !target.join(CARRIED_MARKER).is_file() {
        return Err(Error::Refused {
            path: target.to_path_buf(),
            reason: format!(
                "it has no {CARRIED_MARKER}: only a target folder `deps-layer member-step \
                 --link-from` made has its files replaced by links"
            ),
        });
    }
    let mut linked = 0;
    link_unchanged_dir(target, previous, Path::new(""), &mut linked)?;
    Ok(linked)
}

fn link_unchanged_dir(
    target: &Path,
    previous: &Path,
    relative: &Path,
    linked: &mut usize,
) -> Result<()> {
    for entry in read_dir_sorted(&target.join(relative))? {
        let relative = relative.join(entry.file_name());
        let path = target.join(&relative);
        let file_type = entry.file_type().map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        if file_type.is_dir() {
            link_unchanged_dir(target, previous, &relative, linked)?;
            continue;
        }
        if !file_type.is_file() {
            continue;
        }
        let Ok(stored) = resolve(&previous.join(&relative)) else {
            continue;
        };
        if same_bytes(&path, &stored)? {
            std::fs::remove_file(&path).map_err(|source| Error::Write {
                path: path.clone(),
                source,
            })?;
            symlink(&stored, &path)?;
            *linked += 1;
        }
    }
    Ok(())
}

fn same_bytes(built: &Path, stored: &Path) -> Result<bool> {
    let (Ok(built_meta), Ok(stored_meta)) = (std::fs::metadata(built), std::fs::metadata(stored))
    else {
        return Ok(false);
    };
    if !stored_meta.is_file() || built_meta.len() != stored_meta.len() {
        return Ok(false);
    }
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    Ok(read(built)? == read(stored)?)
}

/// Where a stored file really is: links of a stored folder point into other stored folders,
/// and each step links to the final place, so a chain of any length stays one link deep.
fn resolve(path: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// A folder's entries, by name.
pub(crate) fn read_dir_sorted(path: &Path) -> Result<Vec<std::fs::DirEntry>> {
    let entries = std::fs::read_dir(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut all = entries
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
    all.sort_by_key(|entry| entry.file_name());
    Ok(all)
}

/// A link to a stored file, itself with the stored file's time: cargo reads some times without
/// following links (a build script run's `invoked.timestamp`), and a link made now would make
/// every unit after that build script look stale.
fn symlink(stored: &Path, at: &Path) -> Result<()> {
    std::os::unix::fs::symlink(stored, at).map_err(|source| Error::Write {
        path: at.to_path_buf(),
        source,
    })?;
    let modified = std::fs::metadata(stored)
        .and_then(|metadata| metadata.modified())
        .map_err(|source| Error::Read {
            path: stored.to_path_buf(),
            source,
        })?;
    let since_epoch = modified
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let time = rustix::fs::Timespec {
        tv_sec: since_epoch.as_secs() as i64,
        tv_nsec: since_epoch.subsec_nanos() as _,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        at,
        &rustix::fs::Timestamps {
            last_access: time,
            last_modification: time,
        },
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(|errno| Error::Write {
        path: at.to_path_buf(),
        source: errno.into(),
    })
}

/// A copy the build may write, with the stored file's time (cargo compares times) and
/// executable bit.
fn copy_writable(stored: &Path, to: &Path, metadata: &std::fs::Metadata) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::copy(stored, to).map_err(|source| Error::Write {
        path: to.to_path_buf(),
        source,
    })?;
    let mode = metadata.permissions().mode() | 0o200;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(mode)).map_err(|source| {
        Error::Write {
            path: to.to_path_buf(),
            source,
        }
    })?;
    let modified = metadata.modified().map_err(|source| Error::Read {
        path: stored.to_path_buf(),
        source,
    })?;
    std::fs::File::options()
        .write(true)
        .open(to)
        .and_then(|file| file.set_modified(modified))
        .map_err(|source| Error::Write {
            path: to.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rebuildable() -> Rebuildable {
        Rebuildable {
            crates: ["knn_server".to_string()].into(),
        }
    }

    #[test]
    fn linking_unchanged_files_refuses_a_folder_it_did_not_carry() {
        let previous = tempfile::tempdir().unwrap();
        let target = tempfile::tempdir().unwrap();
        std::fs::write(previous.path().join("notes.txt"), "same").unwrap();
        std::fs::write(target.path().join("notes.txt"), "same").unwrap();
        let err = link_unchanged(target.path(), previous.path()).unwrap_err();
        assert!(err.to_string().contains(CARRIED_MARKER), "{err}");
        // untouched: still the user's file, not a link
        let kept = std::fs::symlink_metadata(target.path().join("notes.txt")).unwrap();
        assert!(kept.is_file());
    }

    #[test]
    fn only_files_no_build_of_the_step_writes_are_linked() {
        let linked = |path: &str| never_rewritten(Path::new(path), &rebuildable());
        assert!(linked("release/deps/libserde-0123456789abcdef.rlib"));
        assert!(linked("release/deps/libserde-0123456789abcdef.rmeta"));
        assert!(linked("release/deps/libserde_derive-0123456789abcdef.so"));
        assert!(linked(
            "x86_64-unknown-linux-gnu/release/deps/libserde-0123.rlib"
        ));
        // the members this step or a later one compiles
        assert!(!linked("release/deps/libknn_server-0123456789abcdef.rlib"));
        assert!(!linked("release/deps/libknn_server.so"));
        // rewritten in place, or outputs cargo uplifts
        assert!(!linked("release/deps/serde-0123456789abcdef.d"));
        assert!(!linked(
            "release/.fingerprint/serde-0123456789abcdef/lib-serde"
        ));
        assert!(!linked("release/libknn_core.rlib"));
        assert!(!linked("release/deps/knn_server-0123456789abcdef"));
        // build scripts' folders, whose files a script run again writes in place
        assert!(!linked("release/build/ring-0123456789abcdef/out/libring.a"));
        assert!(!linked("release/build/ring-0123456789abcdef/output"));
        assert!(!linked(
            "release/build/ring-0123456789abcdef/build-script-build"
        ));
    }
}
