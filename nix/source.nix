# The workspace sources the real build sees. By default (mkFlake's `source = "workspace"`) every
# file of the root as the flake has it (for a git flake, the files git tracks), so any file a
# build script or include_str! reads is there without listing it. `source = "cargo"` narrows it
# to every manifest, lock, .rs and .toml file (crane's commonCargoSources), files with the
# extensions crates read at build time, and the caller's extra files, so that editing docs, CI or
# Nix files rebuilds no package. Either way target/ and .git are left out, and so is the layer folder, whose
# store path is the layers' own business, except for the checks that read it.
{
  lib,
  craneLib,
  # the workspace root and the layer folder (nix/deps) inside it
  root,
  layerDir,
  # "workspace" or "cargo" (above)
  source,
  # file extensions besides Cargo's own that the crates read at build time
  extraExtensions ? [],
  # more files to keep, e.g. the deny configuration of the deny check
  extraFiles ? [],
  # keep the layer folder (the deps-layer-check and deny checks)
  keepLayer ? false,
}: let
  inherit (lib) fileset;
  extra = fileset.fileFilter (file: lib.any (ext: lib.hasSuffix ".${ext}" file.name) extraExtensions) root;
  # Cargo's default target dir: its generated .rs files are outputs, never sources. Nor is a
  # `path:` flake's .git, which would make every commit a new source.
  dropped =
    [(fileset.maybeMissing (root + "/target")) (fileset.maybeMissing (root + "/.git"))]
    ++ lib.optional (!keepLayer) (fileset.maybeMissing layerDir);
  narrow = fileset.unions ([
      (craneLib.fileset.commonCargoSources root)
      # compile settings (rustflags, profiles) that deps-layer also carries into the layer
      (fileset.maybeMissing (root + "/.cargo/config.toml"))
      (fileset.maybeMissing (root + "/.cargo/config"))
      extra
    ]
    ++ lib.optional keepLayer layerDir
    ++ extraFiles);
  kept = fileset.difference (
    if source == "cargo"
    then narrow
    else root
  ) (fileset.unions dropped);
in
  fileset.toSource {
    inherit root;
    fileset = kept;
  }
  # what the member steps narrow (nix/member-steps.nix)
  // {fileset = kept;}
  // lib.optionalAttrs (source == "cargo") {
    # The workspace's files the source leaves out, relative to the root (the layer folder's,
    # target's and .git's aside): what to look through when a build misses a file. Evaluated only on demand, and no input of any build.
    leftOut =
      map (path: lib.removePrefix "./" (lib.path.removePrefix root path))
      (fileset.toList (fileset.difference root (fileset.unions ([kept] ++ dropped))));
  }
