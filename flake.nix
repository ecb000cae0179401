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

  # `lib.mkFlake` is the library any Cargo workspace calls (nix/README.md, "Using it in your
  # workspace"); this repository's own outputs are one such call.
  outputs = inputs: let
    lib = import ./nix/flake-lib.nix {libraryInputs = inputs;};
  in
    lib.mkFlake {
      inherit inputs;
      root = ./.;
      variants = import ./nix/variants.nix;
      # knn-server's service: what every image runs.
      defaults.image = {
        # Listening beyond loopback needs keys: a file mounted at this path (a volume or a secret).
        cmd = ["serve" "--listen" "0.0.0.0:8080" "--data-dir" "/data" "--api-key-file" "/run/secrets/knn-api-keys"];
        ports = [8080];
        volumes = ["/data"];
      };
      # A docs or CI edit rebuilds no package: the builds read Cargo's files, the extensions in
      # nix/lib and nothing else.
      source = "cargo";
      # This workspace is deps-layer's own: its tool is the member, not a build of the library's.
      toolPackage = "deps-layer";
      # Lock files of the test workspaces the tests build offline (deps-layer's fixtures): their
      # crates join the workspace builds' vendor set, so the nextest checks resolve them. A new fixture
      # with a Cargo.lock is picked up without listing it here.
      extraCargoLocks = let
        fixtures = ./crates/deps-layer/tests/fixtures;
        lockOf = name: fixtures + "/${name}/Cargo.lock";
      in
        map lockOf (builtins.filter (name: builtins.pathExists (lockOf name)) (builtins.attrNames (builtins.readDir fixtures)));
      extraLegacyPackages = {
        pkgs,
        craneLib,
        toolchain,
        src,
        root,
        plan,
        system,
      }: {
        comparison = pkgs.callPackage ./nix/comparison.nix {
          inherit craneLib toolchain src root;
          inherit (inputs) naersk;
          inherit (plan.variants.${plan.defaultVariant system}) cargoArgs;
        };
      };
    }
    // {inherit lib;};
}
