# The workspace sources the real build sees: every manifest, lock, .rs and .toml file under the
# root (crane's commonCargoSources), files with the extensions crates read at build time, and the
# caller's extra files. Docs, CI and Nix files are left out, so editing them rebuilds nothing; so
# is the layer folder, whose store path is the layers' own business, except for the checks that
# read it.
{
  lib,
  craneLib,
  # the workspace root and the layer folder (nix/deps) inside it
  root,
  layerDir,
  # file extensions besides Cargo's own that the crates read at build time
  extraExtensions ? [],
  # more files to keep, e.g. the deny configuration of the deny check
  extraFiles ? [],
  # keep the layer folder (the deps-layer-check and deny checks)
  keepLayer ? false,
}: let
  inherit (lib) fileset;
  extra = fileset.fileFilter (file: lib.any (ext: lib.hasSuffix ".${ext}" file.name) extraExtensions) root;
  # Cargo's default target dir: its generated .rs files are outputs, never sources.
  dropped = [(fileset.maybeMissing (root + "/target"))] ++ lib.optional (!keepLayer) (fileset.maybeMissing layerDir);
  kept = fileset.difference (fileset.unions ([
      (craneLib.fileset.commonCargoSources root)
      # compile settings (rustflags, profiles) that deps-layer also carries into the layer
      (fileset.maybeMissing (root + "/.cargo/config.toml"))
      (fileset.maybeMissing (root + "/.cargo/config"))
      extra
    ]
    ++ lib.optional keepLayer layerDir
    ++ extraFiles))
  (fileset.unions dropped);
in
  fileset.toSource {
    inherit root;
    fileset = kept;
  }
  // {
    # The workspace's files the source leaves out, relative to the root (the layer folder's,
    # target's and .git's aside, which a `path:` flake holds): what to look through when a build
    # misses a file. Evaluated only on demand, and no input of any build.
    leftOut =
      builtins.filter (path: !(lib.hasPrefix ".git/" path)) (map (path: lib.removePrefix "./" (lib.path.removePrefix root path))
        (fileset.toList (fileset.difference root (fileset.unions ([kept] ++ dropped)))));
  }
