# A variant's package: what the plan says the variant builds (its cargoArgs), on the variant's
# layer, so cargo compiles only the workspace's own crates. No GPU SDK is a build input: the binaries load their GPU runtime
# at run time (cudarc dynamic loading, HIP through dlopen, the Vulkan loader).
#   nix build .#cpu    nix build .#cuda
{
  lib,
  craneLib,
  autoAddDriverRunpath,
  variantArgs,
  layer,
  # the plan's mainProgram: the one binary the variant builds, or null
  mainProgram,
  src,
  # prepend /run/opengl-driver/lib to the RUNPATH, where NixOS puts libcuda and Vulkan drivers
  driverRunpath ? false,
}:
craneLib.buildPackage (variantArgs
  // {
    inherit src;
    cargoArtifacts = layer;
    # Tests run in the nextest check (and never on a GPU in the sandbox).
    doCheck = false;
    nativeBuildInputs = (variantArgs.nativeBuildInputs or []) ++ lib.optional driverRunpath autoAddDriverRunpath;
    meta = lib.optionalAttrs (mainProgram != null) {inherit mainProgram;};
  })
