//! Running cargo as a child process. Every call goes through here so the environment that decides
//! fingerprints (CARGO_HOME, incremental, target dir) is set in one place.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::error::{Error, Result};
use crate::progress::{Step, Style, follow};

/// The cargo binary that runs us (`CARGO` under `cargo run`/`cargo test`), else `cargo` from PATH.
fn cargo_program() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

#[derive(Debug, Clone, Default)]
pub struct Cargo {
    /// Extra environment for every invocation (target dir, incremental, ...).
    pub env: Vec<(String, OsString)>,
    pub offline: bool,
    /// How builds report their progress on stderr.
    pub progress: Style,
}

impl Cargo {
    pub fn command(&self, dir: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(cargo_program());
        command.current_dir(dir).args(args);
        if self.offline {
            command.arg("--offline");
        }
        // Variables set by an outer cargo for the crate under test must not leak into the builds we
        // measure: they would change what cargo compiles or where it writes.
        for var in [
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_TARGET_DIR",
            "RUSTC_BOOTSTRAP",
        ] {
            command.env_remove(var);
        }
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command.stdin(Stdio::null());
        command
    }

    /// Runs cargo, returning stdout; a non-zero exit becomes `Error::Cargo` with stderr.
    pub fn run(&self, dir: &Path, args: &[&str]) -> Result<Output> {
        let mut command = self.command(dir, args);
        self.output(&mut command, dir, args)
    }

    /// Runs cargo with JSON messages on stdout, handing each line to `step` as it arrives so a
    /// long build shows its progress; returns the whole output like [`Cargo::run`].
    pub fn run_with_progress(&self, dir: &Path, args: &[&str], step: &mut Step) -> Result<Output> {
        let shown = display(args);
        let spawn_error = |source| Error::Spawn {
            command: shown.clone(),
            source,
        };
        let mut child = self
            .command(dir, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_error)?;
        let (Some(stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(Error::Output {
                command: shown,
                message: "no pipe to the child process".into(),
            });
        };
        // stderr is drained beside stdout: a full pipe would stop cargo.
        let stderr_reader = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = stderr.read_to_end(&mut bytes);
            bytes
        });
        let collected = follow(stdout, step).map_err(spawn_error)?;
        let status = child.wait().map_err(spawn_error)?;
        let stderr = stderr_reader.join().unwrap_or_default();
        let output = Output {
            status,
            stdout: collected,
            stderr,
        };
        succeeded(output, shown, dir)
    }

    pub fn output(&self, command: &mut Command, dir: &Path, args: &[&str]) -> Result<Output> {
        let shown = display(args);
        let output = command.output().map_err(|source| Error::Spawn {
            command: shown.clone(),
            source,
        })?;
        succeeded(output, shown, dir)
    }
}

/// A non-zero exit becomes `Error::Cargo` carrying cargo's stderr.
fn succeeded(output: Output, command: String, dir: &Path) -> Result<Output> {
    if output.status.success() {
        return Ok(output);
    }
    Err(Error::Cargo {
        command,
        dir: dir.to_path_buf(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

pub fn display(args: &[&str]) -> String {
    let mut shown = String::from("cargo");
    for arg in args {
        shown.push(' ');
        shown.push_str(arg);
    }
    shown
}

/// The directory of a manifest path (`Cargo.toml` → its folder).
pub fn manifest_dir(manifest: &Path) -> PathBuf {
    manifest
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}
