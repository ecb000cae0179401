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
        inherit craneLib;
        depsSrc = src;
        # Its own member's files and stand-ins for the rest (crane's dummy source, made from
        # the manifests alone): an edit of another member leaves the tool, and so every
        # derivation that runs it, as it was.
        src = let
          manifest =
            records.members.${workspace.toolPackage}
            or (throw "mkFlake: toolPackage ${builtins.toJSON workspace.toolPackage} is not a member in plan.json (members: ${builtins.toJSON (builtins.attrNames records.members)})");
          dir = builtins.dirOf manifest;
          own = lib.fileset.toSource {
            root = root + "/${dir}";
            fileset = lib.fileset.intersection src.fileset (root + "/${dir}");
          };
        in
          # a tool at the root holds the whole workspace
          if dir == "."
          then src
          else
            craneLib.mkDummySrc {
              inherit src;
              extraDummyScript = ''
                rm -rf $out/${lib.escapeShellArg dir}
                mkdir -p $out/${lib.escapeShellArg dir}
                cp -r --no-preserve=mode ${own}/. $out/${lib.escapeShellArg dir}/
              '';
            };
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
