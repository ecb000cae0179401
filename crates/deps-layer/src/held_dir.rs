//! A folder held open by its descriptor. Everything done through it (creating, renaming,
//! deleting) happens in that folder, whatever later happens to the path it was opened by: a parent
//! replaced by a symbolic link between a check and a write cannot redirect the write, or a delete,
//! to another folder.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, CWD, Dir, FileType, Mode, OFlags};

/// What identifies a file system object while it exists: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    dev: u64,
    ino: u64,
}

impl Identity {
    // st_dev and st_ino are of other integer types on other systems
    #[allow(clippy::unnecessary_cast)]
    fn of_stat(stat: &rustix::fs::Stat) -> Identity {
        Identity {
            dev: stat.st_dev as u64,
            ino: stat.st_ino as u64,
        }
    }

    /// The object at `path`, not following a final symbolic link.
    pub fn of(path: &Path) -> std::io::Result<Identity> {
        use std::os::unix::fs::MetadataExt;
        let metadata = path.symlink_metadata()?;
        Ok(Identity {
            dev: metadata.dev(),
            ino: metadata.ino(),
        })
    }
}

pub struct HeldDir {
    fd: OwnedFd,
    /// The path it was opened by, for messages only.
    path: PathBuf,
}

const DIR_FLAGS: OFlags = OFlags::DIRECTORY
    .union(OFlags::NOFOLLOW)
    .union(OFlags::RDONLY)
    .union(OFlags::CLOEXEC);

impl HeldDir {
    /// Opens the folder at `path`; a symbolic link there is refused (ELOOP/ENOTDIR).
    pub fn open(path: &Path) -> std::io::Result<HeldDir> {
        let fd = rustix::fs::openat(CWD, path, DIR_FLAGS, Mode::empty())?;
        Ok(HeldDir {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// The path of `name` inside, as it was when the folder was opened (for messages).
    pub fn path_of(&self, name: &OsStr) -> PathBuf {
        self.path.join(name)
    }

    pub fn identity(&self) -> std::io::Result<Identity> {
        Ok(Identity::of_stat(&rustix::fs::fstat(&self.fd)?))
    }

    /// The identity of `name` inside, not following a link; None if nothing has that name.
    pub fn identity_of(&self, name: &OsStr) -> std::io::Result<Option<Identity>> {
        match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => Ok(Some(Identity::of_stat(&stat))),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// The folder `name` inside, held in turn; a link there is refused.
    pub fn child(&self, name: &OsStr) -> std::io::Result<HeldDir> {
        let fd = rustix::fs::openat(&self.fd, name, DIR_FLAGS, Mode::empty())?;
        Ok(HeldDir {
            fd,
            path: self.path_of(name),
        })
    }

    /// Names and kinds of the entries, `.` and `..` left out.
    pub fn entries(&self) -> std::io::Result<Vec<(OsString, FileType)>> {
        let mut entries = Vec::new();
        for entry in Dir::read_from(&self.fd)? {
            let entry = entry?;
            let name = OsStr::from_bytes(entry.file_name().to_bytes());
            if name == "." || name == ".." {
                continue;
            }
            let kind = match entry.file_type() {
                FileType::Unknown => rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW)
                    .map(|stat| FileType::from_raw_mode(stat.st_mode))?,
                kind => kind,
            };
            entries.push((name.to_os_string(), kind));
        }
        Ok(entries)
    }

    pub fn create_dir(&self, name: &OsStr) -> std::io::Result<()> {
        rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(0o755))?;
        Ok(())
    }

    /// A new file; an existing name (a link included) is an error.
    pub fn create_file(&self, name: &OsStr, content: &[u8]) -> std::io::Result<()> {
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )?;
        File::from(fd).write_all(content)
    }

    /// The regular file `name` inside, not through a link.
    pub fn read_file(&self, name: &OsStr) -> std::io::Result<String> {
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let mut text = String::new();
        File::from(fd).read_to_string(&mut text)?;
        Ok(text)
    }

    /// Writes `files` (relative path → content), creating the folders on their paths.
    pub fn write_files<'a>(
        &self,
        files: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> std::io::Result<()> {
        for (relative, content) in files {
            let mut parts: Vec<&OsStr> = Path::new(relative)
                .components()
                .map(|part| part.as_os_str())
                .collect();
            let Some(file) = parts.pop() else {
                continue;
            };
            let mut dir = None::<HeldDir>;
            for part in parts {
                let current = dir.as_ref().unwrap_or(self);
                match current.create_dir(part) {
                    Err(err) if err.kind() != ErrorKind::AlreadyExists => return Err(err),
                    _ => {}
                }
                dir = Some(current.child(part)?);
            }
            dir.as_ref()
                .unwrap_or(self)
                .create_file(file, content.as_bytes())?;
        }
        Ok(())
    }

    pub fn rename(&self, from: &OsStr, to: &OsStr) -> std::io::Result<()> {
        rustix::fs::renameat(&self.fd, from, &self.fd, to)?;
        Ok(())
    }

    /// Swaps two names in one step, where the system can.
    #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
    pub fn exchange(&self, a: &OsStr, b: &OsStr) -> std::io::Result<()> {
        use rustix::fs::{RenameFlags, renameat_with};
        renameat_with(&self.fd, a, &self.fd, b, RenameFlags::EXCHANGE)?;
        Ok(())
    }

    #[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
    pub fn exchange(&self, _: &OsStr, _: &OsStr) -> std::io::Result<()> {
        Err(std::io::Error::from(ErrorKind::Unsupported))
    }

    /// Deletes `name` inside and everything under it, never following a link.
    pub fn remove_tree(&self, name: &OsStr) -> std::io::Result<()> {
        let is_dir = rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW)
            .map(|stat| FileType::from_raw_mode(stat.st_mode) == FileType::Directory)?;
        if is_dir {
            let child = self.child(name)?;
            for (entry, _) in child.entries()? {
                child.remove_tree(&entry)?;
            }
            rustix::fs::unlinkat(&self.fd, name, AtFlags::REMOVEDIR)?;
        } else {
            rustix::fs::unlinkat(&self.fd, name, AtFlags::empty())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn what_is_done_through_it_stays_in_the_folder_opened() {
        let dir = tempfile::tempdir().unwrap();
        let held_path = dir.path().join("held");
        std::fs::create_dir(&held_path).unwrap();
        let held = HeldDir::open(&held_path).unwrap();
        let identity = held.identity().unwrap();
        // The path now names another folder: the held one moved aside, a link in its place.
        let moved = dir.path().join("moved");
        let elsewhere = dir.path().join("elsewhere");
        std::fs::rename(&held_path, &moved).unwrap();
        std::fs::create_dir(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &held_path).unwrap();

        let files: BTreeMap<String, String> = [("sub/a".to_string(), "1".to_string())].into();
        held.write_files(&files).unwrap();
        assert_eq!(std::fs::read_to_string(moved.join("sub/a")).unwrap(), "1");
        assert!(std::fs::read_dir(&elsewhere).unwrap().next().is_none());
        assert_eq!(Identity::of(&moved).unwrap(), identity);
        held.remove_tree(OsStr::new("sub")).unwrap();
        assert!(!moved.join("sub").exists());
        assert!(HeldDir::open(&held_path).is_err(), "a link is not opened");
    }

    #[test]
    fn removing_a_tree_does_not_follow_links_inside_it() {
        let dir = tempfile::tempdir().unwrap();
        let keep = dir.path().join("keep");
        std::fs::create_dir(&keep).unwrap();
        std::fs::write(keep.join("file"), "kept").unwrap();
        let tree = dir.path().join("tree");
        std::fs::create_dir_all(tree.join("a")).unwrap();
        std::os::unix::fs::symlink(&keep, tree.join("a/link")).unwrap();
        HeldDir::open(dir.path())
            .unwrap()
            .remove_tree(OsStr::new("tree"))
            .unwrap();
        assert!(!tree.exists());
        assert_eq!(std::fs::read_to_string(keep.join("file")).unwrap(), "kept");
    }
}
