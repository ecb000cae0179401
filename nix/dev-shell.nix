# `nix develop` / `nix develop .#cuda`: the pinned toolchain, cargo-nextest, the deps-layer tool,
# and for a GPU variant the environment its binary needs to find the GPU runtime at run time.
# The driver: NixOS exposes it under /run/opengl-driver. Elsewhere nixpkgs' glibc does not read
# /etc/ld.so.cache and nixpkgs' Vulkan loader does not search /etc/vulkan or /usr/share/vulkan, so
# the shell links the host driver's own libraries (hostDriver.libraryPatterns, found in
# hostDriver.libraryDirs) into a directory of its own and puts that on LD_LIBRARY_PATH, and adds
# the host's Vulkan driver manifests. The whole distribution lib dir is never added: it would
# shadow nixpkgs' libraries with the host's.
{
  lib,
  craneLib,
  cargo-nextest,
  # the deps-layer tool (nix/tool-package.nix, or the deps-layer flake's build)
  tool,
  # the variant's build settings (buildInputs, nativeBuildInputs, env), as its builds get them
  build ? {env = {};},
  system,
  # nix/lib/host-driver.nix
  hostDriver,
  # nix/lib plan entry of the variant, or null for the default shell
  variant ? null,
  runtimeLibraries ? [],
  vulkanDrivers ? [],
  checks ? {},
}: let
  libraryPath = lib.makeLibraryPath runtimeLibraries;
  vulkanDriverFiles = lib.concatStringsSep ":" (hostDriver.vulkanDriverDirs ++ map (p: "${p}/share/vulkan/icd.d") vulkanDrivers);
  gpuEnv =
    lib.optionalAttrs (variant != null && variant.accelerator != null) {
      LD_LIBRARY_PATH = lib.concatStringsSep ":" (lib.filter (p: p != "") [libraryPath "/run/opengl-driver/lib"]);
      shellHook = ''
        if [[ ! -d /run/opengl-driver/lib ]]; then
          host_driver=''${XDG_CACHE_HOME:-$HOME/.cache}/nix-dev-shell-driver/${system}
          mkdir -p "$host_driver"
          find "$host_driver" -maxdepth 1 -type l -delete
          shopt -s nullglob
          for dir in ${lib.escapeShellArgs (hostDriver.libraryDirs system)}; do
            for pattern in ${lib.escapeShellArgs hostDriver.libraryPatterns}; do
              for f in "$dir"/$pattern; do
                [[ -e "$host_driver/''${f##*/}" ]] || ln -s "$f" "$host_driver/"
              done
            done
          done
          shopt -u nullglob
          export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$host_driver"
          echo "no /run/opengl-driver/lib (not NixOS): host driver libraries linked from $host_driver"
        fi
        echo "${variant.name} variant: cargo build ${variant.cargoExtraArgs}"
      '';
    }
    // lib.optionalAttrs (variant != null && variant.accelerator == "vulkan") {
      VK_ADD_DRIVER_FILES = vulkanDriverFiles;
    };
in
  craneLib.devShell ({
      inherit checks;
      packages = [cargo-nextest tool] ++ build.buildInputs or [] ++ build.nativeBuildInputs or [];
    }
    // build.env
    // gpuEnv)
