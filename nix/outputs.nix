# One system's packages, checks, dev shells and apps: the plan from nix/lib mapped onto the files
# of this directory, for the workspace nix/flake-lib.nix describes. Called by mkFlake (and by its
# overlays.default with the caller's nixpkgs).
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
  # what nix/flake-lib.nix read from the workspace: root, layerDir, version, toolchainChoice,
  # toolchain, extraSourceFiles, denyConfig, extraCargoLocks, gitDependencies, toolPackage
  workspace,
  # the deps-layer flake's own build of the tool, for a workspace that is not deps-layer's
  libraryTool,
  # { system, pkgs, craneLib, toolchain, src, root, plan } -> more legacyPackages
  extraLegacyPackages,
}: let
  nixLib = import ./lib;
  inherit (workspace) root layerDir version;

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
  toolchain = toolchainOf pkgs;

  # The real builds' sources: the workspace lock's (every package cargo resolves), plus the test
  # workspaces'. Each layer vendors its own lock instead (nix/deps.nix).
  vendorSetOf = cargoLocks:
    pkgs.callPackage ./vendor.nix {
      inherit craneLib cargoLocks;
      gitSources = workspace.gitDependencies;
    };
  workspaceVendorSet = vendorSetOf ([(root + "/Cargo.lock")] ++ workspace.extraCargoLocks);
  sourceArgs = {
    inherit craneLib root layerDir;
    extraExtensions = nixLib.sourceExtensions;
    extraFiles = workspace.extraSourceFiles;
  };
  src = pkgs.callPackage ./source.nix sourceArgs;
  # The checks that read the layer and the deny configuration.
  srcWithNix = pkgs.callPackage ./source.nix (sourceArgs
    // {
      keepLayer = true;
      extraFiles = workspace.extraSourceFiles ++ lib.optional (workspace.denyConfig != null) workspace.denyConfig;
    });
  relativeToRoot = path: lib.removePrefix "./" (lib.path.removePrefix root path);

  names = plan.namesOn system;
  variantOf = name: plan.variants.${name};

  # Runtime libraries and build inputs come from nixpkgs configured for the variant (CUDA
  # licences, GPU targets).
  variantPkgs = name: let
    cfg = (variantOf name).nixpkgsConfig;
  in
    if name == null || cfg == null
    then pkgs
    else pkgsWithConfig cfg;

  # Build settings (nix/lib: attribute paths, env) resolved in a nixpkgs, added to crane arguments.
  resolveBuild = from: build: {
    buildInputs = map (path: lib.getAttrFromPath path from) build.buildInputs;
    nativeBuildInputs = map (path: lib.getAttrFromPath path from) build.nativeBuildInputs;
    inherit (build) env;
  };
  withBuild = args: resolved:
    args
    // lib.optionalAttrs (resolved.buildInputs != []) {buildInputs = (args.buildInputs or []) ++ resolved.buildInputs;}
    // lib.optionalAttrs (resolved.nativeBuildInputs != []) {nativeBuildInputs = (args.nativeBuildInputs or []) ++ resolved.nativeBuildInputs;}
    // {env = args.env // resolved.env;};

  # Shared by every cargo derivation of every variant: the same environment, sources at the
  # same path (a layer replaces cargoVendorSet with its own lock's), and the defaults' build
  # settings; the common layer gets exactly these.
  commonArgs = withBuild {
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
  } (resolveBuild pkgs plan.defaultBuild);

  # One set per variant, shared by its layer, package and checks: commonArgs and the variant's
  # own build settings, from its nixpkgs.
  variantBuild = name: resolveBuild (variantPkgs name) (variantOf name).build;
  argsOf = name: withBuild commonArgs (variantBuild name);

  # The variant's own arguments on top: package name, version and cargo flags.
  variantArgs = name: let
    v = variantOf name;
  in
    argsOf name
    // {
      inherit (v) pname cargoExtraArgs;
      # the selected package's own version where the plan names its manifest
      version =
        if v.manifest == null
        then version
        else
          nixLib.workspace.packageVersion {
            root = builtins.fromTOML (builtins.readFile (root + "/Cargo.toml"));
            package = builtins.fromTOML (builtins.readFile (root + "/${v.manifest}"));
          };
    };

  # Every layer the variants of this system build on, by the plan's layer name; each stacks on
  # the one its `stacksOn` names, with the build settings of the variants on it.
  planLayers = lib.genAttrs (plan.layersOn system) (name: let
    layer = plan.layers.${name};
    owner = plan.layerBuild name;
  in
    pkgs.callPackage ./deps.nix {
      inherit craneLib layer vendorSetOf;
      commonArgs = withBuild commonArgs (resolveBuild (variantPkgs owner.variant) owner.build);
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
      # every variant builds from the same source: the default package lists what it leaves out
      sourceLeftOutAttr = "packages.${system}.default.sourceLeftOut";
    };
  packages = lib.genAttrs names packageOf;

  defaultName = plan.defaultVariant system;
  defaultPackage = packages.${defaultName};

  tool =
    if workspace.toolPackage == null
    then libraryTool
    else
      pkgs.callPackage ./tools.nix {
        inherit craneLib commonArgs src version;
        package = workspace.toolPackage;
      };

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
    # The workspace-wide checks build on the default variant's layer, with its settings.
    workspaceArgs = argsOf defaultName // {inherit version;};
    defaultLayer = layers.${defaultName};
    denyConfig =
      if workspace.denyConfig == null
      then null
      else relativeToRoot workspace.denyConfig;
    # `deps-layer check` looks in nix/deps unless told otherwise.
    layerDirArgs = lib.optionals (layerDir != root + "/nix/deps") ["--out" (relativeToRoot layerDir)];
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

  # A shell has what the variant's builds have: the defaults' and its own build settings.
  shellBuild = name: withBuild (withBuild {env = {};} (resolveBuild pkgs plan.defaultBuild)) (variantBuild name);
  shellOf = name:
    pkgs.callPackage ./shells.nix {
      inherit craneLib tool;
      build = shellBuild name;
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
        build = shellBuild defaultName;
        # The default variant's checks and the global lints: their tools land in the shell.
        checks = lib.filterAttrs (name: _: !(lib.hasPrefix "package-" name) && (lib.hasSuffix "-${defaultName}" name || !(lib.hasInfix "-" name))) checks;
      };
    }
    # A sole variant named like the default shell (no variants table) has it as its shell.
    // lib.mapAttrs' (name: _: lib.nameValuePair (variantOf name).outputs.shell (shellOf name))
    (lib.filterAttrs (name: _: (variantOf name).outputs.shell != "default") packages);

  legacyPackages =
    extraLegacyPackages {inherit system pkgs craneLib toolchain src root plan;}
    // {inherit tool;};

  apps.deps-layer = {
    type = "app";
    program = lib.getExe' depsLayerApp "deps-layer";
    meta.description = "Generate, check or verify the dependency layer in ${relativeToRoot layerDir}";
  };
}
