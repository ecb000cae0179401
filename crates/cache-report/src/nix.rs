//! Runs the `nix` command. Every call turns on the experimental features it needs, so the
//! report works whatever the user's `nix.conf` enables.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, Output};

use crate::derived::{Derived, parse_derived_paths};
use crate::dry_run::{DryRunPlan, parse_dry_run};
use crate::error::{Error, ParseError};
use crate::path_info::{PathSizes, parse_path_info};

const FEATURES: [&str; 2] = ["--extra-experimental-features", "nix-command flakes"];

#[derive(Debug, Clone)]
pub struct Nix {
    pub program: PathBuf,
    /// Installables are attributes of this Nix file (`nix build --file`), not flake references.
    pub file: Option<PathBuf>,
    /// Passed to `nix build --dry-run` and `nix eval`: `--option substituters …` and the like.
    pub extra_args: Vec<String>,
}

impl Nix {
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            file: None,
            extra_args: Vec::new(),
        }
    }

    /// What building `installables` would do, and their derivation and output paths.
    pub fn dry_run(&self, installables: &[String]) -> Result<(DryRunPlan, Vec<Derived>), Error> {
        let mut args: Vec<OsString> = vec!["build".into(), "--dry-run".into(), "--json".into()];
        args.extend(self.file_args());
        args.extend(self.extra_args.iter().map(OsString::from));
        args.extend(installables.iter().map(OsString::from));
        let output = self.run(&args)?;
        let plan = parse_dry_run(&String::from_utf8_lossy(&output.stderr))?;
        let derived = parse_derived_paths(&String::from_utf8_lossy(&output.stdout))?;
        Ok((plan, derived))
    }

    pub fn current_system(&self) -> Result<String, Error> {
        let args = [
            "eval",
            "--impure",
            "--raw",
            "--expr",
            "builtins.currentSystem",
        ];
        let output = self.run(&args.map(OsString::from))?;
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    }

    /// Attribute names of `<flake>#packages.<system>`, without evaluating the packages.
    pub fn package_names(&self, flake: &str, system: &str) -> Result<Vec<String>, Error> {
        let output = self.eval_json(&format!("{flake}#packages.{system}"), "builtins.attrNames")?;
        serde_json::from_slice(&output).map_err(|e| {
            ParseError::Json {
                command: "nix eval --json --apply builtins.attrNames".to_string(),
                reason: e.to_string(),
            }
            .into()
        })
    }

    /// The variant plan the flake was evaluated with (`legacyPackages.<system>.depsLayerPlan`,
    /// as JSON text), or None when the flake has none.
    pub fn flake_plan(&self, flake: &str, system: &str) -> Result<Option<String>, Error> {
        let output = self.eval_json(
            &format!("{flake}#legacyPackages.{system}"),
            "packages: packages.depsLayerPlan or null",
        )?;
        let text = String::from_utf8_lossy(&output).trim().to_string();
        Ok((text != "null").then_some(text))
    }

    /// `nix eval --json INSTALLABLE --apply FUNCTION`'s output.
    fn eval_json(&self, installable: &str, function: &str) -> Result<Vec<u8>, Error> {
        let mut args: Vec<OsString> = vec!["eval".into(), "--json".into()];
        args.extend(self.extra_args.iter().map(OsString::from));
        args.extend([installable.into(), "--apply".into(), function.into()]);
        Ok(self.run(&args)?.stdout)
    }

    /// Sizes of `paths` in the binary cache at `store_url`; paths it lacks are left out.
    pub fn path_sizes(
        &self,
        store_url: &str,
        paths: &[String],
    ) -> Result<BTreeMap<String, PathSizes>, Error> {
        if paths.is_empty() {
            return Ok(BTreeMap::new());
        }
        let mut args: Vec<OsString> = vec![
            "path-info".into(),
            "--json".into(),
            "--store".into(),
            store_url.into(),
        ];
        args.extend(paths.iter().map(OsString::from));
        // A path the cache lacks makes some Nix versions exit non-zero after printing the
        // JSON for all of them; the JSON says which ones it has.
        let output = self.output(&args)?;
        match parse_path_info(&String::from_utf8_lossy(&output.stdout)) {
            Ok(sizes) => Ok(sizes),
            Err(_) if !output.status.success() => Err(self.failure(&args, &output)),
            Err(error) => Err(error.into()),
        }
    }

    /// Which of `paths` in the binary cache at `store_url` lack a signature by a trusted key
    /// (`trusted-public-keys` from nix.conf or the extra args). `nix build --dry-run` lists
    /// such paths as fetched, but the real build refuses them and builds instead.
    pub fn untrusted_paths(
        &self,
        store_url: &str,
        paths: &[String],
    ) -> Result<BTreeSet<String>, Error> {
        if paths.is_empty() {
            return Ok(BTreeSet::new());
        }
        let mut args: Vec<OsString> = vec![
            "store".into(),
            "verify".into(),
            "--no-contents".into(),
            "--store".into(),
            store_url.into(),
        ];
        args.extend(self.extra_args.iter().map(OsString::from));
        args.extend(paths.iter().map(OsString::from));
        let output = self.output(&args)?;
        let untrusted: BTreeSet<String> = String::from_utf8_lossy(&output.stderr)
            .lines()
            .filter_map(|line| {
                line.trim()
                    .strip_prefix("path '")?
                    .strip_suffix("' is untrusted")
                    .map(str::to_string)
            })
            .collect();
        // `nix store verify` exits with bit 2 set for untrusted paths; any other failure
        // (corrupt, unreadable) is not something this report can explain.
        let only_untrusted = output.status.code() == Some(2) && !untrusted.is_empty();
        if output.status.success() || only_untrusted {
            Ok(untrusted)
        } else {
            Err(self.failure(&args, &output))
        }
    }

    /// The text of `file` (a store path and a path inside it), from the binary cache at
    /// `store_url` or, with None, the local store; None when there is no such file.
    pub fn store_file(&self, store_url: Option<&str>, file: &str) -> Result<Option<String>, Error> {
        let mut args: Vec<OsString> = vec!["store".into(), "cat".into()];
        if let Some(url) = store_url {
            args.extend(["--store".into(), url.into()]);
        }
        args.extend(self.extra_args.iter().map(OsString::from));
        args.push(file.into());
        let output = self.output(&args)?;
        Ok(output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned()))
    }

    fn file_args(&self) -> Vec<OsString> {
        match &self.file {
            Some(file) => vec!["--file".into(), file.clone().into_os_string()],
            None => Vec::new(),
        }
    }

    fn output(&self, args: &[OsString]) -> Result<Output, Error> {
        Command::new(&self.program)
            .args(FEATURES)
            .args(args)
            .output()
            .map_err(|source| Error::Spawn {
                program: self.program.display().to_string(),
                source,
            })
    }

    fn run(&self, args: &[OsString]) -> Result<Output, Error> {
        let output = self.output(args)?;
        if output.status.success() {
            Ok(output)
        } else {
            Err(self.failure(args, &output))
        }
    }

    fn failure(&self, args: &[OsString], output: &Output) -> Error {
        let command = std::iter::once(self.program.as_os_str())
            .chain(args.iter().map(OsString::as_os_str))
            .map(|part| part.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ");
        Error::NixFailed {
            command,
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr)
                .trim_end()
                .to_string(),
        }
    }
}
