# Baselines the layer is measured against, never built by CI (docs/benchmarks.md has the figures):
# - crane's default deps derivation, whose dummy source keeps the workspace's manifests and lock
#   (member names and versions);
# - naersk's two-step build of the default variant: its deps derivation (`deps-naersk`) compiles
#   from a dummy source made of every member's manifest and the lock, the package on top of it.
#   nix build .#legacyPackages.x86_64-linux.comparison.deps-crane-default
#   nix build .#legacyPackages.x86_64-linux.comparison.package-naersk
{
  lib,
  callPackage,
  craneLib,
  # naersk's source (its flake input); called with the same toolchain as crane
  naersk,
  toolchain,
  src,
  # the workspace root, for crane's default source cleaning
  root,
  # the default variant's cargo arguments (the plan's list), so both tools build the same
  # selection and features
  cargoArgs,
}: let
  naerskLib = callPackage naersk {
    cargo = toolchain;
    rustc = toolchain;
  };
  # naersk passes its options to cargo through the shell
  extraArgs = map lib.escapeShellArg cargoArgs;
  package-naersk = naerskLib.buildPackage {
    inherit src;
    cargoBuildOptions = options: options ++ extraArgs;
    strictDeps = true;
  };
in {
  deps-crane-default = craneLib.buildDepsOnly {
    src = craneLib.cleanCargoSource root;
    pname = "workspace";
    strictDeps = true;
  };

  inherit package-naersk;
  deps-naersk = lib.head package-naersk.builtDependencies;
}
