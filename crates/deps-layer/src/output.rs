//! Writing to a path the user names. A tool writes only into a folder it owns, proven by a marker
//! file it wrote there (or a file whose first line it wrote), and refuses anything else, so a
//! mistyped `--out` can never delete a repository, a workspace or someone's files. A folder is
//! replaced by swapping a complete staging copy into place in one step, so an interruption at any
//! point leaves the old or the new folder complete at the path; the next run removes what an
//! interrupted one left beside it.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};
use crate::held_dir::{HeldDir, Identity};

/// Test hook: `DEPS_LAYER_PAUSE_AT=<step>` stops a replacement at that step (`claimed`,
/// `staging`, `staged`, `swapped`) so a test can kill the process there, as an interruption would,
/// or change the file system under it.
pub const PAUSE_VAR: &str = "DEPS_LAYER_PAUSE_AT";
/// With the pause: the run goes on once this file no longer exists.
pub const RESUME_VAR: &str = "DEPS_LAYER_RESUME_WHEN_GONE";

/// The file that proves a folder is the tool's to replace.
#[derive(Debug, Clone)]
pub struct Marker {
    /// The tool, for messages.
    pub tool: &'static str,
    pub file: &'static str,
    /// The marker's content. Its first line identifies the tool. Constant (no timestamp), so the
    /// folder's bytes, and any key computed from them, stay deterministic.
    pub text: &'static str,
    /// What versions of the tool wrote before the marker existed, taken as the tool's own.
    pub earlier: Option<Earlier>,
}

/// Output of the tool's versions without the marker: a folder every file of which passes
/// `is_generated` (its path relative to the folder, its content), and staging folders with
/// `staging_prefix` beside it that such versions left when interrupted.
#[derive(Debug, Clone, Copy)]
pub struct Earlier {
    pub is_generated: fn(&Path, &str) -> bool,
    pub staging_prefix: &'static str,
}

impl Marker {
    fn signature(&self) -> &str {
        self.text.lines().next().unwrap_or_default()
    }

    /// Whether `dir` holds this marker, written by this tool.
    fn is_in(&self, dir: &Path) -> bool {
        let path = dir.join(self.file);
        path.symlink_metadata()
            .is_ok_and(|metadata| metadata.is_file())
            && std::fs::read_to_string(&path)
                .is_ok_and(|text| text.lines().next() == Some(self.signature()))
    }

    /// Whether every file under `dir` is one an earlier version of the tool generated.
    fn earlier_output(&self, dir: &Path) -> bool {
        let Some(earlier) = self.earlier else {
            return false;
        };
        let mut stack = vec![dir.to_path_buf()];
        let mut files = 0;
        while let Some(current) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&current) else {
                return false;
            };
            for entry in entries {
                let Ok(entry) = entry else {
                    return false;
                };
                let path = entry.path();
                match entry.file_type() {
                    Ok(kind) if kind.is_dir() => stack.push(path),
                    Ok(kind) if kind.is_file() => {
                        let relative = path.strip_prefix(dir).unwrap_or(&path);
                        let generated = std::fs::read_to_string(&path)
                            .is_ok_and(|content| (earlier.is_generated)(relative, &content));
                        if !generated {
                            return false;
                        }
                        files += 1;
                    }
                    _ => return false,
                }
            }
        }
        files > 0
    }

    /// The name prefix of the staging folders beside `out`, tied to its name so that folders
    /// of other outputs in the same parent are never taken for ours.
    fn staging_prefix(&self, out_name: &OsStr) -> String {
        format!(".{}{}-", out_name.to_string_lossy(), self.file)
    }
}

/// A path the output must neither be nor contain (the workspace root, a package's folder).
#[derive(Debug, Clone)]
pub struct Protected {
    pub path: PathBuf,
    /// What it is, for the message: "the workspace root", "the folder of package `app`".
    pub what: String,
}

/// What is at an output path that may be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Missing,
    Empty,
    /// A folder holding the tool's marker.
    Owned,
}

/// An output folder that passed the ownership rules, by its resolved path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub path: PathBuf,
    pub state: State,
    /// The folder checked and its parent, as they were then: a replacement goes on only in
    /// those very folders.
    pub identity: Option<Identity>,
    pub parent_identity: Option<Identity>,
}

/// Checks that `out` may be written by the owner of `marker`, touching nothing.
pub fn claim(out: &Path, marker: &Marker, protected: &[Protected]) -> Result<Claim> {
    let refuse = |reason: String| Error::Refused {
        path: out.to_path_buf(),
        reason,
    };
    let absolute = std::path::absolute(out).map_err(|source| Error::Read {
        path: out.to_path_buf(),
        source,
    })?;
    let link = |path: &Path| {
        path.symlink_metadata()
            .is_ok_and(|metadata| metadata.file_type().is_symlink())
    };
    let refuse_link = || {
        refuse(format!(
            "it is a symbolic link; {} writes only into a folder it owns, never through a link",
            marker.tool
        ))
    };
    if link(&absolute) {
        return Err(refuse_link());
    }
    // `..` after a folder that does not exist yet is applied to the path as written, so the
    // folder actually named may be a link too.
    let path = resolve(&absolute)?;
    let found = match path.symlink_metadata() {
        Ok(metadata) => Some(metadata),
        Err(err) if err.kind() == ErrorKind::NotFound => None,
        Err(source) => return Err(Error::Read { path, source }),
    };
    if let Some(metadata) = &found {
        if metadata.file_type().is_symlink() {
            return Err(refuse_link());
        }
        if !metadata.is_dir() {
            return Err(refuse("it is a file, not a folder".into()));
        }
    }
    if path.components().any(|part| part.as_os_str() == ".git") {
        return Err(refuse("it is inside a git directory".into()));
    }
    for protected in protected {
        let protected_path = resolve(&protected.path)?;
        if protected_path == path {
            return Err(refuse(format!("it is {}", protected.what)));
        }
        if protected_path.starts_with(&path) {
            return Err(refuse(format!(
                "it contains {} ({})",
                protected.what,
                protected_path.display()
            )));
        }
    }
    let parent_identity = path.parent().and_then(|parent| Identity::of(parent).ok());
    if found.is_none() {
        return Ok(Claim {
            path,
            state: State::Missing,
            identity: None,
            parent_identity,
        });
    }
    let identity = Some(Identity::of(&path).map_err(|source| Error::Read {
        path: path.clone(),
        source,
    })?);
    let git = path.join(".git");
    if git.symlink_metadata().is_ok() {
        return Err(refuse(format!(
            "it holds a git repository ({})",
            git.display()
        )));
    }
    let mut entries = std::fs::read_dir(&path).map_err(|source| Error::Read {
        path: path.clone(),
        source,
    })?;
    if entries.next().is_none() {
        return Ok(Claim {
            path,
            state: State::Empty,
            identity,
            parent_identity,
        });
    }
    if !marker.is_in(&path) && !marker.earlier_output(&path) {
        let reason = if path.join(marker.file).symlink_metadata().is_ok() {
            format!(
                "its {} file was not written by {} (its first line differs)",
                marker.file, marker.tool
            )
        } else {
            format!(
                "it is not empty and has no {} file, so {} did not write it; name a new or empty folder, or one {} wrote",
                marker.file, marker.tool, marker.tool
            )
        };
        return Err(refuse(reason));
    }
    // A repository cloned into the tool's own folder is still not the tool's to delete.
    if let Some(git) = find_git(&path)? {
        return Err(refuse(format!(
            "it holds a git repository ({})",
            git.display()
        )));
    }
    Ok(Claim {
        path,
        state: State::Owned,
        identity,
        parent_identity,
    })
}

/// Replaces the folder `out` with `files` and the marker: written into a staging folder beside
/// it, then swapped into place in one rename. Returns the resolved path written. From the claim
/// on, the parent folder is held open and every step goes through it, and it must be the parent
/// the claim checked; the folder swapped out is deleted only if it is the one the claim checked.
pub fn replace_dir(
    out: &Path,
    marker: &Marker,
    files: &BTreeMap<String, String>,
    protected: &[Protected],
) -> Result<PathBuf> {
    let claim = claim(out, marker, protected)?;
    let path = claim.path.clone();
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(Error::Refused {
            path: out.to_path_buf(),
            reason: "it has no parent folder to stage the new content in".into(),
        });
    };
    pause_at("claimed");
    let changed = || Error::Refused {
        path: path.clone(),
        reason: format!(
            "its parent folder {} changed while it was checked (replaced, or a link now)",
            parent.display()
        ),
    };
    std::fs::create_dir_all(parent).map_err(|source| Error::Write {
        path: parent.to_path_buf(),
        source,
    })?;
    let held = HeldDir::open(parent).map_err(|_| changed())?;
    if let Some(expected) = claim.parent_identity
        && held.identity().ok() != Some(expected)
    {
        return Err(changed());
    }
    let prefix = marker.staging_prefix(name);
    remove_leftovers(&held, &prefix, marker)?;
    // Kept if the process is killed: the next run knows it by its prefix and marker.
    let staging = create_staging(&held, &prefix)?;
    let swapped = stage(&held, &staging, marker, files).and_then(|()| {
        pause_at("staged");
        swap_into_place(&held, &staging, name, &claim)
    });
    // After a swap the staging name holds the previous content; on failure, the partial new one.
    let _ = held.remove_tree(&staging);
    swapped?;
    Ok(path)
}

fn create_staging(held: &HeldDir, prefix: &str) -> Result<OsString> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or_default();
    for attempt in 0..100u32 {
        let name = OsString::from(format!(
            "{prefix}{}-{nanos:x}-{attempt}",
            std::process::id()
        ));
        match held.create_dir(&name) {
            Ok(()) => return Ok(name),
            Err(err) if err.kind() == ErrorKind::AlreadyExists => continue,
            Err(source) => {
                return Err(Error::Write {
                    path: held.path_of(&name),
                    source,
                });
            }
        }
    }
    Err(Error::Write {
        path: held.path_of(OsStr::new(prefix)),
        source: std::io::Error::from(ErrorKind::AlreadyExists),
    })
}

/// Writes the marker first, so that a run killed while staging leaves a folder the next run
/// recognises as its own.
fn stage(
    held: &HeldDir,
    staging: &OsStr,
    marker: &Marker,
    files: &BTreeMap<String, String>,
) -> Result<()> {
    let failed = |source| Error::Write {
        path: held.path_of(staging),
        source,
    };
    let dir = held.child(staging).map_err(failed)?;
    dir.create_file(OsStr::new(marker.file), marker.text.as_bytes())
        .map_err(failed)?;
    for (index, file) in files.iter().enumerate() {
        dir.write_files([file]).map_err(failed)?;
        if index == 0 {
            pause_at("staging");
        }
    }
    Ok(())
}

fn swap_into_place(held: &HeldDir, staging: &OsStr, name: &OsStr, claim: &Claim) -> Result<()> {
    let failed = |source| Error::Write {
        path: claim.path.clone(),
        source,
    };
    match claim.state {
        State::Missing => held.rename(staging, name).map_err(failed)?,
        State::Empty | State::Owned => {
            let aside = match held.exchange(staging, name) {
                Ok(()) => staging.to_os_string(),
                // Filesystems without an atomic exchange: move the old folder aside under our
                // prefix, then the new one in. Only here can a kill between the two renames
                // leave the path empty; the old content stays beside it and the next run cleans
                // it up.
                Err(err) if exchange_unsupported(&err) => {
                    let mut aside = staging.to_os_string();
                    aside.push("-previous");
                    held.rename(name, &aside).map_err(failed)?;
                    if let Err(source) = held.rename(staging, name) {
                        let _ = held.rename(&aside, name);
                        return Err(failed(source));
                    }
                    aside
                }
                Err(source) => return Err(failed(source)),
            };
            // What was swapped out must be the folder the claim checked: anything put in its
            // place since is not ours to delete, and goes back.
            if held.identity_of(&aside).ok().flatten() != claim.identity {
                let restored = if aside == staging {
                    held.exchange(staging, name)
                } else {
                    held.rename(name, staging)
                        .and_then(|()| held.rename(&aside, name))
                };
                return Err(Error::Refused {
                    path: claim.path.clone(),
                    reason: if restored.is_ok() {
                        "it was replaced by another folder while it was checked; that folder was left as it is".into()
                    } else {
                        format!(
                            "it was replaced by another folder while it was checked, which is now at {}",
                            held.path_of(&aside).display()
                        )
                    },
                });
            }
            if aside != staging {
                let _ = held.remove_tree(&aside);
            }
        }
    }
    pause_at("swapped");
    Ok(())
}

#[cfg(unix)]
fn exchange_unsupported(err: &std::io::Error) -> bool {
    use rustix::io::Errno;
    err.kind() == ErrorKind::Unsupported
        || Errno::from_io_error(err)
            .is_some_and(|errno| [Errno::INVAL, Errno::NOSYS, Errno::NOTSUP].contains(&errno))
}

#[cfg(not(unix))]
fn exchange_unsupported(err: &std::io::Error) -> bool {
    err.kind() == ErrorKind::Unsupported
}

/// Staging folders of interrupted runs: our prefix, and our marker or nothing at all (killed
/// before the marker was written); or those of earlier versions, holding only their output.
fn remove_leftovers(held: &HeldDir, prefix: &str, marker: &Marker) -> Result<()> {
    let read_failed = |source| Error::Read {
        path: held.path_of(OsStr::new("")),
        source,
    };
    for (name, kind) in held.entries().map_err(read_failed)? {
        let text = name.to_string_lossy();
        let earlier = marker
            .earlier
            .is_some_and(|earlier| text.starts_with(earlier.staging_prefix));
        if kind != rustix::fs::FileType::Directory || !(text.starts_with(prefix) || earlier) {
            continue;
        }
        let Ok(dir) = held.child(&name) else {
            continue;
        };
        let empty = dir.entries().is_ok_and(|entries| entries.is_empty());
        let marked = dir
            .read_file(OsStr::new(marker.file))
            .is_ok_and(|text| text.lines().next() == Some(marker.signature()));
        if empty || marked || (earlier && marker.earlier_output(&held.path_of(&name))) {
            held.remove_tree(&name).map_err(|source| Error::Write {
                path: held.path_of(&name),
                source,
            })?;
        }
    }
    Ok(())
}

/// Writes a file owned by the tool that `signature` (the content's first line) identifies:
/// refused when something else is at `path`; replaced in one rename otherwise.
pub fn replace_file(path: &Path, tool: &str, signature: &str, content: &str) -> Result<()> {
    debug_assert_eq!(content.lines().next(), Some(signature));
    claim_file(path, tool, signature)?;
    let parent = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|source| Error::Write {
        path: parent.to_path_buf(),
        source,
    })?;
    let write_failed = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut staged = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(parent)
        .map_err(write_failed)?;
    std::io::Write::write_all(&mut staged, content.as_bytes()).map_err(write_failed)?;
    staged
        .persist(path)
        .map_err(|err| write_failed(err.error))?;
    Ok(())
}

/// Checks, touching nothing, that `path` is missing or a file whose first line is `signature`.
pub fn claim_file(path: &Path, tool: &str, signature: &str) -> Result<()> {
    let refuse = |reason: String| Error::Refused {
        path: path.to_path_buf(),
        reason,
    };
    match path.symlink_metadata() {
        Err(err) if err.kind() == ErrorKind::NotFound => {}
        Err(source) => {
            return Err(Error::Read {
                path: path.to_path_buf(),
                source,
            });
        }
        Ok(metadata) if metadata.file_type().is_symlink() => {
            return Err(refuse(format!(
                "it is a symbolic link; {tool} writes only files it owns, never through a link"
            )));
        }
        Ok(metadata) if !metadata.is_file() => {
            return Err(refuse("it is not a regular file".into()));
        }
        Ok(_) => {
            let first_line = std::fs::read_to_string(path)
                .ok()
                .and_then(|text| text.lines().next().map(str::to_string));
            if first_line.as_deref() != Some(signature) {
                return Err(refuse(format!(
                    "it exists and {tool} did not write it (its first line is not `{signature}`)"
                )));
            }
        }
    }
    Ok(())
}

/// Claims a folder for the tool's own use (a work folder it fills and empties as it likes):
/// checked like an output, then marked.
pub fn claim_work_dir(dir: &Path, marker: &Marker, protected: &[Protected]) -> Result<PathBuf> {
    let claim = claim(dir, marker, protected)?;
    if claim.state != State::Owned {
        write_file(&claim.path.join(marker.file), marker.text)?;
    }
    Ok(claim.path)
}

/// Writes `files` (relative path → content) under `dir`, creating folders as needed.
pub fn write_files(dir: &Path, files: &BTreeMap<String, String>) -> Result<()> {
    for (relative, content) in files {
        write_file(&dir.join(relative), content)?;
    }
    Ok(())
}

/// Writes one file, creating its folder as needed.
pub(crate) fn write_file(path: &Path, content: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| Error::Write {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(path, content).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// The real path: symbolic links of the existing part resolved, `.` and `..` of the rest applied.
fn resolve(absolute: &Path) -> Result<PathBuf> {
    let parts: Vec<Component> = absolute.components().collect();
    for existing in (1..=parts.len()).rev() {
        let prefix: PathBuf = parts[..existing].iter().collect();
        let Ok(mut resolved) = prefix.canonicalize() else {
            continue;
        };
        for part in &parts[existing..] {
            match part {
                Component::ParentDir => {
                    resolved.pop();
                }
                Component::CurDir => {}
                other => resolved.push(other.as_os_str()),
            }
        }
        return Ok(resolved);
    }
    Ok(absolute.to_path_buf())
}

/// The first `.git` inside `dir` (not following links).
fn find_git(dir: &Path) -> Result<Option<PathBuf>> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let entries = std::fs::read_dir(&current).map_err(|source| Error::Read {
            path: current.clone(),
            source,
        })?;
        for entry in entries.flatten() {
            if entry.file_name() == ".git" {
                return Ok(Some(entry.path()));
            }
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                stack.push(entry.path());
            }
        }
    }
    Ok(None)
}

fn pause_at(step: &str) {
    if std::env::var_os(PAUSE_VAR).is_some_and(|wanted| wanted == step) {
        eprintln!("paused at {step}");
        let resume = std::env::var_os(RESUME_VAR).map(PathBuf::from);
        loop {
            std::thread::sleep(std::time::Duration::from_millis(100));
            if resume.as_ref().is_some_and(|file| !file.exists()) {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST: Marker = Marker {
        tool: "tool",
        file: ".tool",
        text: "written by tool\n",
        earlier: None,
    };

    fn files(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(name, content)| (name.to_string(), content.to_string()))
            .collect()
    }

    fn refusal(result: Result<impl std::fmt::Debug>) -> String {
        match result.unwrap_err() {
            Error::Refused { reason, .. } => reason,
            other => panic!("not a refusal: {other}"),
        }
    }

    #[test]
    fn claims_a_missing_an_empty_and_an_owned_folder() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        assert_eq!(claim(&out, &TEST, &[]).unwrap().state, State::Missing);
        std::fs::create_dir(&out).unwrap();
        assert_eq!(claim(&out, &TEST, &[]).unwrap().state, State::Empty);
        replace_dir(&out, &TEST, &files(&[("a", "1")]), &[]).unwrap();
        assert_eq!(claim(&out, &TEST, &[]).unwrap().state, State::Owned);
        assert_eq!(
            std::fs::read_to_string(out.join(".tool")).unwrap(),
            TEST.text
        );
    }

    #[test]
    fn replacing_swaps_the_whole_folder_and_leaves_nothing_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        replace_dir(&out, &TEST, &files(&[("a", "1"), ("sub/b", "2")]), &[]).unwrap();
        replace_dir(&out, &TEST, &files(&[("c", "3")]), &[]).unwrap();
        let mut names: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, [".tool", "c"]);
        let beside: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(beside.len(), 1);
    }

    #[test]
    fn removes_marked_or_empty_staging_folders_only() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let marked = dir.path().join(".out.tool-marked");
        let empty = dir.path().join(".out.tool-empty");
        let foreign = dir.path().join(".out.tool-foreign");
        let other_output = dir.path().join(".other.tool-x");
        write_file(&marked.join(".tool"), TEST.text).unwrap();
        std::fs::create_dir(&empty).unwrap();
        write_file(&foreign.join("notes"), "mine").unwrap();
        write_file(&other_output.join(".tool"), TEST.text).unwrap();
        replace_dir(&out, &TEST, &files(&[("a", "1")]), &[]).unwrap();
        assert!(!marked.exists());
        assert!(!empty.exists());
        assert!(foreign.join("notes").exists());
        assert!(
            other_output.exists(),
            "another output's staging is not ours"
        );
    }

    #[test]
    fn resolves_dots_after_folders_that_do_not_exist() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().canonicalize().unwrap();
        assert_eq!(
            resolve(&dir.path().join("a/b/../../c/./d")).unwrap(),
            real.join("c/d")
        );
        let protected = [Protected {
            path: dir.path().join("ws"),
            what: "the workspace root".into(),
        }];
        std::fs::create_dir(dir.path().join("ws")).unwrap();
        let reason = refusal(claim(&dir.path().join("ws/new/../.."), &TEST, &protected));
        assert!(
            reason.starts_with("it contains the workspace root"),
            "{reason}"
        );
    }

    #[test]
    fn replaces_only_files_it_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.md");
        replace_file(&path, "tool", "<!-- tool -->", "<!-- tool -->\nfirst\n").unwrap();
        replace_file(&path, "tool", "<!-- tool -->", "<!-- tool -->\nsecond\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "<!-- tool -->\nsecond\n"
        );
        let foreign = dir.path().join("notes.md");
        std::fs::write(&foreign, "mine\n").unwrap();
        let reason = refusal(replace_file(
            &foreign,
            "tool",
            "<!-- tool -->",
            "<!-- tool -->\n",
        ));
        assert!(reason.contains("tool did not write it"), "{reason}");
        assert_eq!(std::fs::read_to_string(&foreign).unwrap(), "mine\n");
        let reason = refusal(replace_file(
            dir.path(),
            "tool",
            "<!-- tool -->",
            "<!-- tool -->\n",
        ));
        assert!(reason.contains("not a regular file"), "{reason}");
    }

    #[test]
    fn claims_a_work_folder_by_marking_it() {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        let claimed = claim_work_dir(&work, &TEST, &[]).unwrap();
        assert!(claimed.join(".tool").is_file());
        write_file(&claimed.join("scratch/x"), "1").unwrap();
        assert_eq!(claim_work_dir(&work, &TEST, &[]).unwrap(), claimed);
        std::fs::remove_file(claimed.join(".tool")).unwrap();
        let reason = refusal(claim_work_dir(&work, &TEST, &[]));
        assert!(reason.contains("has no .tool file"), "{reason}");
    }
}
