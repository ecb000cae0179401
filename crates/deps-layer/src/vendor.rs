//! The flake's view of the sources: the layer's lock vendored (`cargo vendor`) into one folder and
//! cargo confined to it through its own `CARGO_HOME`, so a build that needs a crate the layer's
//! lock lacks fails here as it fails in the Nix sandbox.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::cargo::Cargo;
use crate::error::{Error, Result};

/// A vendored copy of a lock's sources and the cargo home that reads only from it.
#[derive(Debug, Clone)]
pub struct Vendored {
    pub sources: PathBuf,
    pub cargo_home: PathBuf,
}

impl Vendored {
    /// The environment that confines cargo to the vendored sources. Every build that must share
    /// compiled units uses the same `Vendored`: cargo hashes a crate's absolute source path into its
    /// fingerprint, as it does with the flake's one vendor directory.
    pub fn env(&self) -> (String, OsString) {
        (
            "CARGO_HOME".to_string(),
            self.cargo_home.clone().into_os_string(),
        )
    }
}

/// Vendors the packages of `layer_dir`'s lock into `into/vendor` (versioned folders, like crane's)
/// and writes `into/cargo-home/config.toml` replacing every source with them.
pub fn vendor(cargo: &Cargo, layer_dir: &Path, into: &Path) -> Result<Vendored> {
    let sources = into.join("vendor");
    let cargo_home = into.join("cargo-home");
    let sources_arg = sources.to_string_lossy().into_owned();
    // Not `--quiet`: it also silences the configuration on stdout.
    let output = cargo.run(
        layer_dir,
        &["vendor", "--locked", "--versioned-dirs", &sources_arg],
    )?;
    std::fs::create_dir_all(&cargo_home).map_err(|source| Error::Write {
        path: cargo_home.clone(),
        source,
    })?;
    if !String::from_utf8_lossy(&output.stdout).contains("[source.") {
        return Err(Error::Output {
            command: "cargo vendor".into(),
            message: "no source replacement printed".into(),
        });
    }
    let config = cargo_home.join("config.toml");
    // `cargo vendor` prints the source replacement for exactly what it vendored.
    std::fs::write(&config, &output.stdout).map_err(|source| Error::Write {
        path: config.clone(),
        source,
    })?;
    Ok(Vendored {
        sources,
        cargo_home,
    })
}
