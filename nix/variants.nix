# What only Nix needs to know about each variant; the Cargo features live in the root Cargo.toml
# ([workspace.metadata.variants]). Plain data, so nix/lib can check it without nixpkgs.
# A variant missing here is built like cpu on Linux. Packages never take GPU SDKs as build inputs:
# the binaries load their GPU runtime at run time, so these libraries go into the images only.
#   accelerator       how the image reaches the device: "nvidia" (container toolkit / CDI),
#                     "rocm" (/dev/kfd + /dev/dri), "vulkan" (any Vulkan driver), or null
#   nixpkgsConfig     config for the nixpkgs instance the image and dev shell take libraries from
#   runtimeLibraries  attribute paths in that nixpkgs whose lib/ the binary dlopens
#   vulkanDrivers     attribute paths of packages whose share/vulkan/icd.d the loader may use
#   gpuTargets        AMD GPU targets for the ROCm runtime libraries (null: nixpkgs' default)
#   driverRunpath     add /run/opengl-driver/lib to the binary's RUNPATH (NixOS hosts)
#   unfree            which unfree licence family the variant may use ("cuda") or null
#   systems           the systems nixpkgs supports this variant on
{
  cpu = {
    systems = ["x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin"];
  };

  cuda = {
    accelerator = "nvidia";
    unfree = "cuda";
    nixpkgsConfig = {
      cudaSupport = true;
      # Turing to Hopper; override in your own nixpkgs config to trim or extend.
      cudaCapabilities = ["7.5" "8.0" "8.6" "8.9" "9.0"];
      cudaForwardCompat = true;
    };
    # knn-cuda's cudarc (features driver, nvrtc, dynamic-loading) loads libcuda (the driver's,
    # injected by the container toolkit) and libnvrtc (run-time kernel compilation) by name.
    runtimeLibraries = [
      ["cudaPackages" "cuda_nvrtc"]
    ];
    driverRunpath = true;
    systems = ["x86_64-linux" "aarch64-linux"];
  };

  rocm = {
    accelerator = "rocm";
    nixpkgsConfig = {
      rocmSupport = true;
    };
    # CDNA2/3 and RDNA2/3, applied as nixpkgs documents it: rocmPackages.clr.override
    # { localGpuTargets = ...; }. Edit to trim or extend.
    gpuTargets = ["gfx908" "gfx90a" "gfx942" "gfx1030" "gfx1100"];
    # knn-rocm dlopens libamdhip64 and libhiprtc, both from clr; the HSA runtime comes with its closure.
    runtimeLibraries = [
      ["rocmPackages" "clr"]
    ];
    systems = ["x86_64-linux"];
  };

  vulkan = {
    accelerator = "vulkan";
    runtimeLibraries = [
      ["vulkan-loader"]
    ];
    # Mesa: lavapipe (CPU), RADV, ANV. NVIDIA's ICD comes from the container toolkit.
    vulkanDrivers = [
      ["mesa"]
    ];
    driverRunpath = true;
    systems = ["x86_64-linux" "aarch64-linux"];
  };
}
