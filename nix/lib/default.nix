# Every decision the flake makes, as pure functions (builtins only). The nix/*.nix files that touch
# nixpkgs only map these onto crane and dockerTools calls. Tested by nix/tests/lib.nix.
let
  platforms = import ./platforms.nix;
in {
  planJson = import ./plan-json.nix;
  shellWords = import ./shell-words.nix;
  imageSettings = import ./image-settings.nix;
  variantSettings = import ./variant-settings.nix;
  licences = import ./licences.nix;
  workspace = import ./workspace.nix;
  vendor = import ./vendor.nix;
  memberStepFiles = import ./member-step-files.nix;
  inherit platforms;
  inherit (platforms) isLinux;

  # Files besides Cargo's own (.rs, .toml, Cargo.lock) that crates read at build time
  # (include_str!, shaders, kernels, migrations). Anything else (docs, CI) never reaches the build.
  sourceExtensions = ["wgsl" "glsl" "comp" "spv" "hlsl" "cu" "cuh" "ptx" "hip" "cl" "sql"];

  # One resolved record per variant of a workspace, with the layers and names around them
  # (nix/lib/variant-records.nix).
  variantRecords = import ./variant-records.nix;
}
