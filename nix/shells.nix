# `nix develop` / `nix develop .#cuda`: the pinned toolchain, cargo-nextest, the deps-layer tool,
# and for a GPU variant the environment its binary needs to find the GPU runtime at run time.
{
  lib,
  craneLib,
  cargo-nextest,
  workspace,
  # nix/lib plan entry of the variant, or null for the default shell
  variant ? null,
  runtimeLibraries ? [],
  vulkanDrivers ? [],
  checks ? {},
}: let
  libraryPath = lib.makeLibraryPath runtimeLibraries;
  gpuEnv =
    lib.optionalAttrs (variant != null && variant.accelerator != null) {
      # NixOS exposes the driver (libcuda, Vulkan ICDs) under /run/opengl-driver/lib.
      LD_LIBRARY_PATH = lib.concatStringsSep ":" (lib.filter (p: p != "") [libraryPath "/run/opengl-driver/lib"]);
      shellHook = ''
        echo "${variant.name} variant: cargo build ${variant.cargoExtraArgs}"
      '';
    }
    // lib.optionalAttrs (vulkanDrivers != []) {
      VK_ADD_DRIVER_FILES = lib.concatMapStringsSep ":" (p: "${p}/share/vulkan/icd.d") vulkanDrivers;
    };
in
  craneLib.devShell ({
      inherit checks;
      packages = [cargo-nextest workspace];
    }
    // gpuEnv)
