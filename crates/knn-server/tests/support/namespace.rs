//! A private mount namespace for tests that need a filesystem of their own (a small tmpfs to
//! fill, a read-only mount), kept alive by a holder process so that the mounts outlive the
//! server processes started in it.
//!
//! Needs `unshare` and `nsenter` (util-linux) and the right to create a mount namespace (root, as
//! in CI). Where that is missing, [`MountNamespace::new`] says why and the test prints SKIPPED,
//! unless `KNN_REQUIRE_MOUNT_NAMESPACE=1` makes it fail instead.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct MountNamespace {
    holder: Child,
}

impl MountNamespace {
    pub fn new() -> Result<Self, String> {
        let mut holder = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "--", "sleep", "3600"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run unshare: {e}"))?;
        let own = std::fs::read_link("/proc/self/ns/mnt").map_err(|e| e.to_string())?;
        let theirs = PathBuf::from(format!("/proc/{}/ns/mnt", holder.id()));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = holder.try_wait().map_err(|e| e.to_string())? {
                let mut stderr = String::new();
                if let Some(mut pipe) = holder.stderr.take() {
                    let _ = pipe.read_to_string(&mut stderr);
                }
                return Err(format!("unshare exited with {status}: {}", stderr.trim()));
            }
            // `unshare` execs `sleep` once the namespace exists.
            if std::fs::read_link(&theirs).is_ok_and(|ns| ns != own) {
                return Ok(Self { holder });
            }
            if Instant::now() > deadline {
                let _ = holder.kill();
                let _ = holder.wait();
                return Err("unshare did not enter a new mount namespace within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `nsenter` arguments that run a command in this namespace: a wrapper for
    /// [`super::start_wrapped`].
    pub fn wrapper(&self) -> Vec<OsString> {
        [
            "nsenter",
            "--target",
            &self.holder.id().to_string(),
            "--mount",
            "--",
        ]
        .map(OsString::from)
        .to_vec()
    }

    /// Runs `program args` in the namespace; `Err` with its stderr where it fails.
    pub fn run(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let wrapper = self.wrapper();
        let output = Command::new(&wrapper[0])
            .args(&wrapper[1..])
            .arg(program)
            .args(args)
            .output()
            .map_err(|e| format!("cannot run nsenter: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{program} {args:?} in the namespace: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }

    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it, e.g. `1m`) on `dir`, which must
    /// exist; it is seen only inside the namespace.
    pub fn mount_tmpfs(&self, dir: &Path, size: &str) -> Result<(), String> {
        let dir = dir.to_str().ok_or("non-UTF-8 path")?;
        self.run(
            "mount",
            &["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", dir],
        )
    }

    pub fn remount_read_only(&self, dir: &Path) -> Result<(), String> {
        let dir = dir.to_str().ok_or("non-UTF-8 path")?;
        self.run("mount", &["-o", "remount,ro", dir])
    }

    /// `path` as this namespace sees it, reachable from outside through the holder's root.
    pub fn path(&self, path: &Path) -> PathBuf {
        let relative = path.strip_prefix("/").unwrap_or(path);
        PathBuf::from(format!("/proc/{}/root", self.holder.id())).join(relative)
    }
}

impl Drop for MountNamespace {
    fn drop(&mut self) {
        // The namespace and its mounts go with their last process.
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// The namespace, or `None` after printing SKIPPED with the reason (past the test harness's
/// capture, so that a skip is seen), unless `KNN_REQUIRE_MOUNT_NAMESPACE=1` asks for a failure.
pub fn or_skip(test: &str, namespace: Result<MountNamespace, String>) -> Option<MountNamespace> {
    match namespace {
        Ok(namespace) => Some(namespace),
        Err(reason) if std::env::var("KNN_REQUIRE_MOUNT_NAMESPACE").as_deref() == Ok("1") => {
            panic!("{test}: a private mount namespace is required: {reason}")
        }
        Err(reason) => {
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: needs a private mount namespace (root, unshare, nsenter): {reason}"
            );
            None
        }
    }
}
