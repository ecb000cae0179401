{
  description = "knn-server: exact k-NN vector search in cpu, cuda, rocm and vulkan variants, with a generated dependency layer per variant";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixpkgs-unstable";
    crane.url = "github:ipetkov/crane";
    rust-overlay = {
      url = "github:oxalica/rust-overlay";
      inputs.nixpkgs.follows = "nixpkgs";
    };
    flake-utils.url = "github:numtide/flake-utils";
    # For the naersk comparison build of the cpu variant.
    naersk = {
      url = "github:nix-community/naersk";
      inputs.nixpkgs.follows = "nixpkgs";
    };
    advisory-db = {
      url = "github:rustsec/advisory-db";
      flake = false;
    };
  };

  outputs = {
    nixpkgs,
    crane,
    rust-overlay,
    flake-utils,
    naersk,
    advisory-db,
    ...
  }: let
    nixLib = import ./nix/lib;
    plan = nixLib.plan {
      layerDir = ./nix/deps;
      nixVariants = import ./nix/variants.nix;
    };

    # The overlay's attribute: the default variant's package name from the plan.
    overlayName = plan.variants.${plan.defaultVariant (builtins.head plan.systems)}.pname;

    # Lock files of the test workspaces the tests build offline (deps-layer's fixtures): their
    # crates join the workspace builds' vendor set, so the nextest checks resolve them. A new fixture with
    # a Cargo.lock is picked up without listing it here.
    testCargoLocks = let
      fixtures = ./crates/deps-layer/tests/fixtures;
      lockOf = name: fixtures + "/${name}/Cargo.lock";
    in
      map lockOf (builtins.filter (name: builtins.pathExists (lockOf name)) (builtins.attrNames (builtins.readDir fixtures)));

    outputsFor = system: pkgs: pkgsWithConfig:
      import ./nix/outputs.nix {
        inherit (nixpkgs) lib;
        inherit system pkgs pkgsWithConfig crane plan advisory-db naersk testCargoLocks;
        toolPackage = "deps-layer";
      };
  in
    flake-utils.lib.eachSystem plan.systems (system: let
      importNixpkgs = config:
        import nixpkgs {
          inherit system config;
          overlays = [rust-overlay.overlays.default];
        };
      pkgs = importNixpkgs {};
      out = outputsFor system pkgs importNixpkgs;
    in {
      inherit (out) packages checks devShells apps legacyPackages;
      formatter = pkgs.alejandra;
    })
    // {
      # The packages (not the images) for a nixpkgs of your own: its config and overlays apply.
      overlays.default = nixpkgs.lib.composeManyExtensions [
        rust-overlay.overlays.default
        (final: _prev: let
          out = outputsFor final.stdenv.hostPlatform.system final (config:
            import final.path {
              inherit (final.stdenv.hostPlatform) system;
              config = final.config // config;
              overlays = [rust-overlay.overlays.default];
            });
        in {
          ${overlayName} = out.packages.default;
          "${overlayName}-variants" = removeAttrs out.packages ["default"];
        })
      ];
    };
}
