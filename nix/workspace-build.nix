# What every derivation of one system's outputs builds with: the toolchain and crane, the
# workspace's sources and vendored crates, the crane arguments, and the deps-layer tool.
{
  lib,
  pkgs,
  pkgsWithConfig,
  crane,
  records,
  # what nix/flake-lib.nix read from the workspace
  workspace,
  # the deps-layer flake's own build of the tool, for a workspace that is not deps-layer's
  libraryTool,
}: let
  nixLib = import ./lib;
  inherit (workspace) root layerDir;

  toolchainOf =
    if workspace.toolchain != null
    then workspace.toolchain
    else
      p:
        p.callPackage ./toolchain.nix {
          inherit root;
          choice = workspace.toolchainChoice;
        };
  craneLib = (crane.mkLib pkgs).overrideToolchain toolchainOf;

  # The real builds' sources: the workspace lock's (every package cargo resolves), plus the test
  # workspaces'. Each layer vendors its own lock instead (nix/layer-stack.nix).
  vendorSetOf = cargoLocks:
    pkgs.callPackage ./vendor-set.nix {
      inherit craneLib cargoLocks;
      gitSources = workspace.gitDependencies;
    };
  craneArgs = import ./crane-args.nix {
    inherit lib pkgs pkgsWithConfig records;
    workspaceVendorSet = vendorSetOf ([(root + "/Cargo.lock")] ++ workspace.extraCargoLocks);
  };

  sourceArgs = {
    inherit craneLib root layerDir;
    inherit (workspace) source;
    extraExtensions = nixLib.sourceExtensions;
    extraFiles = workspace.extraSourceFiles;
  };
  src = pkgs.callPackage ./source.nix sourceArgs;
  toolchain = toolchainOf pkgs;
  relativeToRoot = path: lib.removePrefix "./" (lib.path.removePrefix root path);
  tool =
    if workspace.toolPackage == null
    then libraryTool
    else
      pkgs.callPackage ./tool-package.nix {
        inherit craneLib src;
        commonArgs = craneArgs.common;
        inherit (workspace) version;
        package = workspace.toolPackage;
      };
in {
  inherit craneLib vendorSetOf craneArgs src root toolchain relativeToRoot tool;
  # The checks that read the layer and the deny configuration.
  srcWithNix = pkgs.callPackage ./source.nix (sourceArgs
    // {
      keepLayer = true;
      extraFiles = workspace.extraSourceFiles ++ lib.optional (workspace.denyConfig != null) workspace.denyConfig;
    });

  # `nix run .#deps-layer`
  app = {
    type = "app";
    program = lib.getExe' (pkgs.callPackage ./deps-layer-app.nix {inherit toolchain tool;}) "deps-layer";
    meta.description = "Generate, check or verify the dependency layer in ${relativeToRoot layerDir}";
  };
}
