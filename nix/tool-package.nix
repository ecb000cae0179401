# The workspace's own tool (the deps-layer generator/checker), built from the flake's source on a
# dependency layer of its own: the variants' packages build only what they ship, and the tool's
# app and check do not depend on any of them.
#   nix build .#legacyPackages.x86_64-linux.tool
{
  lib,
  craneLib,
  commonArgs,
  src,
  # the workspace source, for the tool's dependency layer (crane makes its dummy from the
  # manifests, so an edit of a member's code leaves it as it was); default: src
  depsSrc ? src,
  version,
  # the tool's package name in the workspace (flake.nix says which)
  package,
}: let
  args =
    commonArgs
    // {
      inherit src version;
      pname = package;
      cargoExtraArgs = "--locked --package ${lib.escapeShellArg package}";
    };
in
  craneLib.buildPackage (args
    // {
      cargoArtifacts = craneLib.buildDepsOnly (args // {src = depsSrc;});
      # Its tests run in the workspace-wide nextest check.
      doCheck = false;
      meta.mainProgram = package;
    })
