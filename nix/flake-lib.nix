# The flake library: `lib.mkFlake` turns any Cargo workspace whose layer `deps-layer generate`
# wrote (plan.json in layerDir) into flake outputs. Arguments: nix/README.md, "Using it in your
# workspace". Everything about the workspace comes from `root` and `layerDir`; nothing here
# reads a file of the flake that defines the library.
{
  # the library flake's own inputs (its `self` included): what a caller's inputs lack
  libraryInputs,
}: let
  nixLib = import ./lib;

  mkFlake = {
    inputs,
    root,
    layerDir ? root + "/nix/deps",
    variants ? {},
    # settings for every variant, under each variant's own
    defaults ? {},
    # what a package build that compiled an external unit its layer should hold does: "warn"
    # (says so; the variant's layer check fails), "error" (fails) or "off" (no report, no check)
    layerMiss ? "warn",
    # build each variant's package as a chain of member steps (plan.json's memberSteps), so an
    # edit recompiles only its member's step and those after it; false: one derivation
    memberLayers ? true,
    # the packages' source: "workspace" (every file but target/ and layerDir) or "cargo" (Cargo's
    # files, the extensions in nix/lib and extraSourceFiles: a docs edit rebuilds nothing)
    source ? "workspace",
    extraSourceFiles ? [],
    # pkgs -> toolchain; null: the root's toolchain file, else its rust-version, else stable
    toolchain ? null,
    # the workspace member that is the deps-layer tool itself (deps-layer's own repository);
    # null: the library flake's build of it
    toolPackage ? null,
    # cargo-deny's configuration; null: deny.toml at the root if present, else none (the deny
    # check then runs `bans sources` only: its licence check needs an allow list)
    denyConfig ? null,
    # lock files of workspaces inside the source whose crates the tests need offline
    extraCargoLocks ? [],
    # git dependencies: { outputHashes = { "<lock source>" = "sha256-..."; }; (fixed-output
    # fetches, so evaluation needs no network) overrideVendorGitCheckout = ps: drv: drv; } (crane's)
    gitDependencies ? {},
    # { system, pkgs, craneLib, toolchain, src, root, plan } -> more legacyPackages
    extraLegacyPackages ? _: {},
    # nixpkgs overlays for every nixpkgs instance (packages of your own that the variants'
    # settings name by attribute path: a build tool, a patched library)
    overlays ? [],
  }: let
    nixpkgs = inputs.nixpkgs or (throw "mkFlake: inputs.nixpkgs is required (pass the flake's inputs: `inherit inputs;`)");
    inherit (nixpkgs) lib;
    # The library's inputs (nix/library-inputs.json) but nixpkgs: the caller's where it has one.
    picked = builtins.listToAttrs (map (input: {
      inherit (input) name;
      value = inputs.${input.name} or libraryInputs.${input.name};
    }) (builtins.filter (input: input.name != "nixpkgs") (builtins.fromJSON (builtins.readFile ./library-inputs.json)).inputs));
    inherit (picked) crane rust-overlay flake-utils advisory-db;

    rootPath =
      if builtins.isPath root
      then root
      else throw "mkFlake: root must be a path (root = ./.;), not ${builtins.typeOf root}";
    under = what: path:
      if builtins.isPath path && lib.path.hasPrefix rootPath path
      then path
      else throw "mkFlake: ${what} must be a path inside root (${toString rootPath}): ${toString path}";

    manifestFile = rootPath + "/Cargo.toml";
    manifest =
      if builtins.pathExists manifestFile
      then builtins.fromTOML (builtins.readFile manifestFile)
      else throw "mkFlake: no Cargo.toml at root (${toString rootPath})";

    workspace = {
      root = rootPath;
      layerDir = under "layerDir" layerDir;
      version = nixLib.workspace.version manifest;
      toolchainChoice = nixLib.workspace.toolchain {
        files = builtins.filter (f: builtins.pathExists (rootPath + "/${f}")) nixLib.workspace.toolchainFiles;
        inherit manifest;
      };
      toolchain =
        if toolchain == null || builtins.isFunction toolchain
        then toolchain
        else throw "mkFlake: toolchain must be a function pkgs -> toolchain, or null";
      source =
        if !(builtins.elem source ["workspace" "cargo"])
        then throw "mkFlake: source must be \"workspace\" or \"cargo\", not ${builtins.toJSON source}"
        else if source == "workspace" && extraSourceFiles != []
        then throw "mkFlake: extraSourceFiles lists files for source = \"cargo\"; the default source (\"workspace\") has every file of root already: drop extraSourceFiles, or set source = \"cargo\""
        else source;
      extraSourceFiles = map (under "extraSourceFiles") extraSourceFiles;
      denyConfig =
        if denyConfig != null
        then under "denyConfig" denyConfig
        else if builtins.pathExists (rootPath + "/deny.toml")
        then rootPath + "/deny.toml"
        else null;
      inherit extraCargoLocks toolPackage;
      gitDependencies = let
        known = ["outputHashes" "overrideVendorGitCheckout"];
        unknown = builtins.filter (n: !(builtins.elem n known)) (builtins.attrNames gitDependencies);
      in
        if unknown == []
        then gitDependencies
        else throw "mkFlake: gitDependencies takes ${builtins.concatStringsSep " and " known}, not ${builtins.concatStringsSep ", " unknown}";
    };

    records = nixLib.variantRecords {
      inherit (workspace) layerDir root;
      inherit layerMiss memberLayers;
      nixVariants = variants;
      inherit defaults;
    };

    # The overlay's attribute: the default variant's package name from the plan.
    overlayName = records.variants.${records.defaultVariant (builtins.head records.systems)}.pname;

    outputsFor = system: pkgs: pkgsWithConfig:
      import ./outputs.nix {
        inherit lib system pkgs pkgsWithConfig crane records advisory-db workspace extraLegacyPackages;
        libraryTool = libraryInputs.self.legacyPackages.${system}.tool or (throw "mkFlake: the deps-layer flake has no tool for ${system}");
      };
  in
    flake-utils.lib.eachSystem records.systems (system: let
      importNixpkgs = config:
        import nixpkgs {
          inherit system config;
          overlays = [rust-overlay.overlays.default] ++ overlays;
        };
      pkgs = importNixpkgs {};
      out = outputsFor system pkgs importNixpkgs;
    in {
      inherit (out) packages checks devShells apps legacyPackages;
      formatter = pkgs.alejandra;
    })
    // {
      # The packages (not the images) for a nixpkgs of your own: its config and overlays apply.
      overlays.default = lib.composeManyExtensions ([rust-overlay.overlays.default]
        ++ overlays
        ++ [
          (final: _prev: let
            out = outputsFor final.stdenv.hostPlatform.system final (config:
              import final.path {
                inherit (final.stdenv.hostPlatform) system;
                config = final.config // config;
                overlays = [rust-overlay.overlays.default] ++ overlays;
              });
          in {
            ${overlayName} = out.packages.default;
            "${overlayName}-variants" = removeAttrs out.packages ["default"];
          })
        ]);
    };
in {
  inherit mkFlake;
}
