# The workspace sources the real build sees: manifests, the lock, and what the crates compile from.
# Docs, CI and Nix files are left out, so editing them rebuilds nothing.
{
  lib,
  craneLib,
  # file extensions besides Cargo's own that the crates read at build time
  extraExtensions ? [],
  # more files to keep, e.g. the deny.toml of the deny check
  extraFiles ? [],
}: let
  root = ../.;
  inherit (lib) fileset;
  extra = fileset.fileFilter (file: lib.any (ext: lib.hasSuffix ".${ext}" file.name) extraExtensions) (root + "/crates");
in
  fileset.toSource {
    inherit root;
    fileset = fileset.unions ([
        (root + "/Cargo.toml")
        (root + "/Cargo.lock")
        # compile settings (rustflags, profiles) that deps-layer also carries into the layer
        (fileset.maybeMissing (root + "/.cargo/config.toml"))
        (craneLib.fileset.commonCargoSources (root + "/crates"))
        extra
      ]
      ++ extraFiles);
  }
