# One system's packages, checks, dev shells and apps: the plan from nix/lib mapped onto the files
# of this directory. Called by flake.nix (and by overlays.default with the caller's nixpkgs).
{
  # nixpkgs' lib, separate from pkgs so that listing outputs never instantiates nixpkgs
  lib,
  # nixpkgs with rust-overlay applied
  pkgs,
  # nixpkgs with a variant's config (cudaSupport, ...); runtime libraries come from it
  pkgsWithConfig,
  crane,
  plan,
  system,
  advisory-db,
  # naersk's source, for the comparison build beside crane
  naersk,
  # lock files of test workspaces inside the source whose crates the tests need offline
  testCargoLocks ? [],
  # the workspace package of the deps-layer tool (its app and the deps-layer-check check)
  toolPackage,
}: let
  nixLib = import ./lib;

  craneLib = (crane.mkLib pkgs).overrideToolchain (p: p.callPackage ./toolchain.nix {});
  toolchain = pkgs.callPackage ./toolchain.nix {};

  # The real builds' sources: the workspace lock's (every package cargo resolves), plus the test
  # workspaces'. Each layer vendors its own lock instead (nix/deps.nix).
  workspaceVendorSet = pkgs.callPackage ./vendor.nix {
    inherit craneLib;
    cargoLocks = [../Cargo.lock] ++ testCargoLocks;
  };
  src = pkgs.callPackage ./source.nix {
    inherit craneLib;
    extraExtensions = nixLib.sourceExtensions;
  };
  srcWithNix = pkgs.callPackage ./source.nix {
    inherit craneLib;
    extraExtensions = nixLib.sourceExtensions;
    extraFiles = [./deps ./deny.toml];
  };

  # Shared by every cargo derivation of every variant: the same environment, sources at the
  # same path (a layer replaces cargoVendorSet with its own lock's).
  commonArgs = {
    # crane's own vendoring puts every vendor set at its store path; nix/vendor-at-fixed-path.sh
    # puts each at one path instead.
    cargoVendorDir = null;
    cargoVendorSet = workspaceVendorSet;
    preConfigure = ". ${./vendor-at-fixed-path.sh}";
    strictDeps = true;
    # cc-wrapper seeds -frandom-seed from the output path; a fixed seed keeps C objects built by
    # build scripts identical between the layer and the real build.
    env.NIX_OUTPATH_USED_AS_RANDOM_SEED = "depslayer0";
    # The plan's profile, for the layers and every build on them alike.
    CARGO_PROFILE = plan.profile;
  };
  version = (builtins.fromTOML (builtins.readFile ../Cargo.toml)).workspace.package.version or "0.0.0";

  names = plan.namesOn system;
  variantOf = name: plan.variants.${name};

  # The variant's own arguments on top: package name and cargo flags.
  variantArgs = name: let
    v = variantOf name;
  in
    commonArgs
    // {
      inherit (v) pname cargoExtraArgs;
      inherit version;
    };

  # Every layer the variants of this system build on, by the plan's layer name; each stacks on
  # the one its `stacksOn` names.
  planLayers = lib.genAttrs (plan.layersOn system) (name: let
    layer = plan.layers.${name};
  in
    pkgs.callPackage ./deps.nix {
      inherit craneLib commonArgs layer;
      base =
        if layer.stacksOn == null
        then null
        else planLayers.${layer.stacksOn};
    });
  # The layer each variant builds on, by variant name.
  layers = lib.genAttrs names (name: planLayers.${(variantOf name).layer});

  packageOf = name:
    pkgs.callPackage ./package.nix {
      inherit craneLib src;
      variantArgs = variantArgs name;
      layer = layers.${name};
      inherit (variantOf name) driverRunpath mainProgram;
    };
  packages = lib.genAttrs names packageOf;

  defaultName = plan.defaultVariant system;
  defaultPackage = packages.${defaultName};

  tool = pkgs.callPackage ./tools.nix {
    inherit craneLib commonArgs src version;
    package = toolPackage;
  };

  # Runtime libraries come from nixpkgs configured for the variant (CUDA licences, GPU targets).
  variantPkgs = name: let
    cfg = (variantOf name).nixpkgsConfig;
  in
    if cfg == null
    then pkgs
    else pkgsWithConfig cfg;
  # A runtime library from the variant's nixpkgs: the package, or only the files of its lib/
  # that the variant names (nix/runtime-subset.nix).
  runtimeLibrariesOf = name:
    map (entry: let
      package = lib.getAttrFromPath entry.path (variantPkgs name);
    in
      if entry.keep == null
      then package
      else
        pkgs.callPackage ./runtime-subset.nix {
          inherit package;
          inherit (entry) keep;
        })
    (variantOf name).runtimeLibraries;
  vulkanDriversOf = name: map (path: lib.getAttrFromPath path (variantPkgs name)) (variantOf name).vulkanDrivers;

  imageOf = name:
    pkgs.callPackage ./image.nix {
      package = packages.${name};
      imagePlan = nixLib.image;
      variant = variantOf name;
      inherit system;
      runtimeLibraries = runtimeLibrariesOf name;
      vulkanDrivers = vulkanDriversOf name;
    };

  checkSet = pkgs.callPackage ./checks.nix {
    inherit craneLib commonArgs src srcWithNix advisory-db tool;
    workspaceArgs = commonArgs // {inherit version;};
    defaultLayer = layers.${defaultName};
  };
  variantChecks = name:
    checkSet.forVariant {
      variantArgs = variantArgs name;
      layer = layers.${name};
    };

  checks =
    {inherit (checkSet) fmt audit deny deps-layer-check clippy nextest;}
    // lib.foldl' (acc: name: let
      c = variantChecks name;
    in
      acc
      // {
        "package-${name}" = packages.${name};
        "clippy-${name}" = c.clippy;
        "nextest-${name}" = c.nextest;
      }) {}
    names;

  shellOf = name:
    pkgs.callPackage ./shells.nix {
      inherit craneLib tool;
      variant = variantOf name;
      inherit system;
      inherit (nixLib.image) hostDriver;
      runtimeLibraries = runtimeLibrariesOf name;
      vulkanDrivers = vulkanDriversOf name;
    };

  depsLayerApp = pkgs.callPackage ./deps-layer-app.nix {inherit toolchain tool;};
in {
  packages =
    {
      default = defaultPackage;
    }
    // lib.mapAttrs' (name: layer: lib.nameValuePair plan.layers.${name}.output layer) planLayers
    // lib.mapAttrs' (name: package: lib.nameValuePair (variantOf name).outputs.package package) packages
    # deps-<variant>: the layer the variant builds on (a feature-less variant's is the common one)
    // lib.mapAttrs' (name: layer: lib.nameValuePair "deps-${name}" layer) layers
    // lib.optionalAttrs (nixLib.isLinux system) (lib.mapAttrs' (name: _: lib.nameValuePair (variantOf name).outputs.image (imageOf name))
      (lib.filterAttrs (name: _: (variantOf name).mainProgram != null) packages));

  inherit checks;

  devShells =
    {
      default = pkgs.callPackage ./shells.nix {
        inherit craneLib tool system;
        inherit (nixLib.image) hostDriver;
        # The default variant's checks and the global lints: their tools land in the shell.
        checks = lib.filterAttrs (name: _: !(lib.hasPrefix "package-" name) && (lib.hasSuffix "-${defaultName}" name || !(lib.hasInfix "-" name))) checks;
      };
    }
    // lib.mapAttrs' (name: _: lib.nameValuePair (variantOf name).outputs.shell (shellOf name)) packages;

  legacyPackages.tool = tool;
  legacyPackages.comparison = pkgs.callPackage ./comparison.nix {
    inherit craneLib naersk toolchain src;
    inherit (variantOf defaultName) cargoArgs;
  };

  apps.deps-layer = {
    type = "app";
    program = lib.getExe' depsLayerApp "deps-layer";
    meta.description = "Generate, check or verify the dependency layer in nix/deps";
  };
}
