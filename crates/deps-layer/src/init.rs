//! `init`: what a Cargo workspace needs to build on the library's flake: a `flake.nix` calling
//! `lib.mkFlake`, a variants table when it has none, and the generated layer. Every target is
//! checked before anything is written, so a refusal leaves the workspace as it was.

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::generate::{self, DEFAULT_OUT, Options};
use crate::output;
use crate::variants;

/// Where the library is published; a fork passes its own location (`--library`, or this
/// variable).
pub const DEFAULT_LIBRARY: &str = "github:deps-layer/deps-layer";
pub const LIBRARY_VAR: &str = "DEPS_LAYER_LIBRARY";

pub const FLAKE: &str = "flake.nix";

/// The library repository's CI workflow, which an adopting repository copies.
pub const WORKFLOW: &str = ".github/workflows/nix.yml";

/// The table appended to a root manifest without one: one variant with no extra features.
const VARIANTS_TABLE: &str = "# One package and image per variant; add one as: \
cuda = { packages = [\"<pkg>\"], features = [\"<pkg>/cuda\"] }
[workspace.metadata.variants]
cpu = {}
";

#[derive(Debug, Clone)]
pub struct InitOptions {
    /// How the layer is generated (the manifest that finds the workspace included).
    pub generate: Options,
    /// The flake reference of the library.
    pub library: String,
    /// Replace an existing `flake.nix`.
    pub force: bool,
}

/// What `init` wrote.
#[derive(Debug, Clone)]
pub struct Report {
    pub root: PathBuf,
    pub flake: PathBuf,
    /// Whether a `flake.nix` was there before (`--force`).
    pub flake_replaced: bool,
    pub manifest: PathBuf,
    /// Whether the variants table was appended to the root manifest.
    pub variants_added: bool,
    /// The variants of the workspace, after init.
    pub variants: Vec<String>,
    pub layer: PathBuf,
    pub layer_files: usize,
    /// `generate`'s warning about the workspace's cargo configuration, if any.
    pub warning: Option<String>,
}

/// The inputs the library follows from the workspace's flake (name, GitHub repository, revision),
/// at the revisions of this repository's flake.lock, which the library is tested with: carried in
/// the source (`init_pins.rs`, generated and drift-checked by scripts/update-init-pins.sh) so
/// that building the tool needs no flake.lock.
pub use crate::init_pins::PINS;

/// A Nix string literal holding `text`.
fn nix_string(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace("${", "\\${")
        .replace('\n', "\\n");
    format!("\"{escaped}\"")
}

/// An input of the library (nix/library-inputs.json) at the revision `init` pins it to.
pub struct Pin {
    pub name: &'static str,
    /// GitHub `owner/repo`.
    pub repository: &'static str,
    pub rev: &'static str,
    /// false: a plain source tree (`flake = false`).
    pub flake: bool,
    /// Its own nixpkgs input follows the workspace's.
    pub follows_nixpkgs: bool,
}

/// The inputs block entry of `pin`, as alejandra formats it.
fn input_entry(pin: &Pin) -> String {
    let url = nix_string(&format!("github:{}/{}", pin.repository, pin.rev));
    if pin.flake && !pin.follows_nixpkgs {
        return format!("    {}.url = {url};\n", pin.name);
    }
    let mut entry = format!("    {} = {{\n      url = {url};\n", pin.name);
    if pin.follows_nixpkgs {
        entry.push_str("      inputs.nixpkgs.follows = \"nixpkgs\";\n");
    }
    if !pin.flake {
        entry.push_str("      flake = false;\n");
    }
    entry.push_str("    };\n");
    entry
}

/// The workspace's `flake.nix`, as alejandra formats it.
pub fn flake_nix(name: &str, library: &str) -> String {
    let inputs: String = PINS.iter().map(input_entry).collect();
    // The library's own inputs are the workspace's, so one lock pins each once.
    let follows: String = PINS
        .iter()
        .map(|pin| format!("        {0}.follows = \"{0}\";\n", pin.name))
        .collect();
    let description = nix_string(&format!(
        "{name}: packages, images and checks on a generated dependency layer"
    ));
    format!(
        r#"{{
  description = {description};
  inputs = {{
{inputs}    deps-layer = {{
      url = {library};
      inputs = {{
{follows}      }};
    }};
  }};
  outputs = inputs:
    inputs.deps-layer.lib.mkFlake {{
      inherit inputs;
      root = ./.;
      # What only Nix knows about a variant (runtime libraries, image settings), in the form of
      # the library's nix/variants.nix:
      # variants = import ./nix/variants.nix;
    }};
}}
"#,
        library = nix_string(library),
    )
}

/// The root manifest's text with [`VARIANTS_TABLE`] appended; None when it has a table.
pub fn with_variants_table(manifest_path: &Path, text: &str) -> Result<Option<String>> {
    let manifest: toml::Table = text.parse().map_err(|err: toml::de::Error| Error::Parse {
        path: manifest_path.to_path_buf(),
        message: err.message().to_string(),
    })?;
    let has_table = manifest
        .get("workspace")
        .and_then(|workspace| workspace.get("metadata"))
        .and_then(|metadata| metadata.get("variants"))
        .is_some();
    if has_table {
        return Ok(None);
    }
    let separator = if text.is_empty() {
        ""
    } else if text.ends_with('\n') {
        "\n"
    } else {
        "\n\n"
    };
    let appended = format!("{text}{separator}{VARIANTS_TABLE}");
    // An inline `metadata = { ... }` cannot be extended by a table header.
    let parsed: toml::Table =
        appended
            .parse()
            .map_err(|err: toml::de::Error| Error::CannotAddVariants {
                manifest: manifest_path.to_path_buf(),
                message: err.message().to_string(),
            })?;
    variants::read(manifest_path, &parsed)?;
    Ok(Some(appended))
}

/// Checks, touching nothing, that `flake.nix` may be written: missing, or a file and `force`.
fn claim_flake(path: &Path, force: bool) -> Result<bool> {
    let refuse = |reason: &str| Error::Refused {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    match path.symlink_metadata() {
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(false),
        Err(source) => Err(Error::Read {
            path: path.to_path_buf(),
            source,
        }),
        Ok(metadata) if metadata.file_type().is_symlink() => Err(refuse(
            "it is a symbolic link; init writes a flake.nix of its own, never through a link",
        )),
        Ok(metadata) if !metadata.is_file() => Err(refuse("it is not a file")),
        Ok(_) if !force => Err(refuse(
            "the workspace already has a flake; pass --force to replace it",
        )),
        Ok(_) => Ok(true),
    }
}

/// Appends to a file in place (its permissions and the rest of its bytes untouched).
fn append(path: &Path, addition: &str) -> Result<()> {
    let failed = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(failed)?;
    file.write_all(addition.as_bytes()).map_err(failed)
}

/// Cuts a file back to its first `len` bytes, undoing [`append`].
fn truncate(path: &Path, len: u64) -> Result<()> {
    let failed = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|file| file.set_len(len))
        .map_err(failed)
}

/// The flake written beside its final place before anything else changes, so that a root
/// where it cannot be written is found before the manifest or the layer are touched; removed
/// on drop unless put in place.
fn stage_flake(root: &Path, content: &str) -> Result<tempfile::NamedTempFile> {
    let failed = |source| Error::Write {
        path: root.join(FLAKE),
        source,
    };
    let mut staged = tempfile::Builder::new()
        .prefix(".flake.nix.deps-layer-init-")
        .tempfile_in(root)
        .map_err(failed)?;
    staged.write_all(content.as_bytes()).map_err(failed)?;
    staged.as_file().sync_all().map_err(failed)?;
    Ok(staged)
}

/// The last step of init: the staged flake takes its place in one step; without `replace`, only
/// if no flake.nix appeared since the check (a hard link fails on an existing name).
fn place_flake(staged: tempfile::NamedTempFile, path: &Path, replace: bool) -> Result<()> {
    let failed = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    if replace {
        staged.persist(path).map_err(|err| failed(err.error))?;
    } else {
        std::fs::hard_link(staged.path(), path).map_err(failed)?;
    }
    Ok(())
}

/// Refuses to append to a manifest that is not a file of the workspace itself: a link would
/// carry the table to a file elsewhere.
fn claim_manifest(path: &Path) -> Result<()> {
    match path.symlink_metadata() {
        Ok(metadata) if metadata.file_type().is_symlink() => Err(Error::Refused {
            path: path.to_path_buf(),
            reason: format!(
                "it is a symbolic link (to {}); init appends [workspace.metadata.variants] only to \
                 a manifest that is a file of the workspace: add the table by hand, e.g. `cpu = {{}}`",
                std::fs::read_link(path)
                    .map(|target| target.display().to_string())
                    .unwrap_or_else(|_| "?".into())
            ),
        }),
        Ok(_) => Ok(()),
        Err(source) => Err(Error::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

pub fn init(options: &InitOptions) -> Result<Report> {
    let workspace = generate::load_workspace(&options.generate)?;
    let root = workspace.root.clone();
    let manifest = workspace.root_manifest.clone();
    let flake = root.join(FLAKE);
    let out = root.join(DEFAULT_OUT);

    let flake_replaced = claim_flake(&flake, options.force)?;
    output::claim(&out, &generate::MARKER, &workspace.protected())?;
    let name = root
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "workspace".into());
    let flake_text = flake_nix(&name, &options.library);
    let manifest_text = std::fs::read_to_string(&manifest).map_err(|source| Error::Read {
        path: manifest.clone(),
        source,
    })?;
    let appended = with_variants_table(&manifest, &manifest_text)?;
    if appended.is_some() {
        claim_manifest(&manifest)?;
    }
    let warning = generate::native_cpu_warning(&root)?;
    let staged_flake = stage_flake(&root, &flake_text)?;

    // The layer is generated from the manifest on disk, so the table goes in first, and comes
    // out again if the layer cannot be written. Cargo reads a `[workspace]` table this creates
    // as making the root a workspace, so the layer must see the manifest as it will stay.
    let workspace = match &appended {
        None => workspace,
        Some(appended) => {
            append(&manifest, &appended[manifest_text.len()..])?;
            match generate::load_workspace(&options.generate) {
                Ok(workspace) => workspace,
                Err(err) => {
                    truncate(&manifest, manifest_text.len() as u64)?;
                    let had_workspace = generate::read_toml(&manifest)
                        .is_ok_and(|table| table.contains_key("workspace"));
                    let message = if had_workspace {
                        err.to_string()
                    } else {
                        format!(
                            "the manifest has no [workspace] table, so the appended one makes it \
                             a workspace, which cargo refuses; the manifest was restored:\n{err}"
                        )
                    };
                    return Err(Error::CannotAddVariants { manifest, message });
                }
            }
        }
    };
    let written =
        generate::generate_for(&options.generate, &workspace, DEFAULT_OUT).and_then(|layer| {
            output::replace_dir(
                &out,
                &generate::MARKER,
                &layer.files,
                &workspace.protected(),
            )
            .map(|path| (path, layer.files.len()))
        });
    let (layer, layer_files) = match written
        .and_then(|written| place_flake(staged_flake, &flake, flake_replaced).map(|()| written))
    {
        Ok(written) => written,
        Err(err) => {
            if appended.is_some() {
                truncate(&manifest, manifest_text.len() as u64)?;
            }
            return Err(err);
        }
    };
    Ok(Report {
        root,
        flake,
        flake_replaced,
        manifest,
        variants_added: appended.is_some(),
        variants: workspace.variants.keys().cloned().collect(),
        layer,
        layer_files,
        warning,
    })
}

impl Report {
    /// What to run next, one command a line.
    pub fn next_commands(&self) -> Vec<String> {
        let mut commands = vec!["nix build .#default".to_string()];
        for variant in &self.variants {
            commands.push(format!("nix build .#image-{variant}"));
        }
        commands.push("nix flake check".into());
        commands.push("nix run .#deps-layer -- check".into());
        commands
    }

    /// The lines `init` prints on stdout.
    pub fn render(&self, library: &str) -> String {
        let mut lines = vec![format!(
            "{} {}",
            if self.flake_replaced {
                "replaced"
            } else {
                "wrote"
            },
            self.flake.display()
        )];
        if self.variants_added {
            lines.push(format!(
                "added [workspace.metadata.variants] with the variant `cpu` to {}",
                self.manifest.display()
            ));
        }
        lines.push(format!(
            "wrote {} ({} files)",
            self.layer.display(),
            self.layer_files
        ));
        lines.push(format!(
            "next, in {} (in a git work tree, `git add` the new files first: a flake sees only what git tracks):",
            self.root.display()
        ));
        lines.extend(self.next_commands());
        lines.push(format!(
            "for CI, copy {WORKFLOW} from the library repository ({library})"
        ));
        let mut text = lines.join("\n");
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_input_is_pinned_to_a_revision_in_template_order() {
        let names: Vec<&str> = PINS.iter().map(|pin| pin.name).collect();
        assert_eq!(
            names,
            [
                "nixpkgs",
                "crane",
                "rust-overlay",
                "flake-utils",
                "advisory-db"
            ]
        );
        for pin in PINS {
            assert!(pin.repository.contains('/'), "{}", pin.name);
            assert!(
                pin.rev.len() == 40 && pin.rev.chars().all(|c| c.is_ascii_hexdigit()),
                "{}: {}",
                pin.name,
                pin.rev
            );
        }
    }

    #[test]
    fn names_and_urls_are_quoted_for_nix() {
        assert_eq!(nix_string(r#"a"b\c${d}"#), r#""a\"b\\c\${d}""#);
        let text = flake_nix("x\"y", "path:/a b");
        assert!(text.contains(r#"description = "x\"y: packages"#));
        assert!(text.contains(r#"url = "path:/a b";"#));
    }

    #[test]
    fn the_table_is_appended_only_when_missing() {
        let path = Path::new("Cargo.toml");
        let plain = "[package]\nname = \"a\"\nversion = \"0.1.0\"\n";
        let appended = with_variants_table(path, plain).unwrap().unwrap();
        assert!(appended.starts_with(plain));
        assert!(appended.ends_with("\n\n# One package and image per variant; add one as: cuda = { packages = [\"<pkg>\"], features = [\"<pkg>/cuda\"] }\n[workspace.metadata.variants]\ncpu = {}\n"));
        let no_newline = with_variants_table(path, plain.trim_end())
            .unwrap()
            .unwrap();
        assert_eq!(no_newline, appended);

        let with_table = format!("{plain}[workspace.metadata.variants]\ngpu = {{}}\n");
        assert_eq!(with_variants_table(path, &with_table).unwrap(), None);

        let inline = "[workspace]\nmetadata = { docs = true }\n";
        let err = with_variants_table(path, inline).unwrap_err().to_string();
        assert!(err.contains("add the table by hand"), "{err}");
        let broken = with_variants_table(path, "[package\n")
            .unwrap_err()
            .to_string();
        assert!(broken.contains("cannot parse Cargo.toml"), "{broken}");
    }
}
