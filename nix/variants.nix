# What only Nix needs to know about each variant; what cargo builds (features, packages, layers)
# is the plan's (nix/deps/plan.json, generated from the root Cargo.toml's variants table). A
# variant missing here is built like cpu on Linux. The settings, their defaults and what each does:
# nix/lib/variant-settings.nix (the table in nix/README.md, "Using it in your workspace").
# Packages never take GPU SDKs as build inputs here: the binaries load their GPU runtime at run
# time, so these libraries go into the images only.
{
  cpu = {
    systems = ["x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin"];
  };

  cuda = {
    accelerator = "nvidia";
    unfree = "cuda";
    nixpkgsConfig = {
      cudaSupport = true;
      # Turing to Hopper. Editing the list changes the hashes of the CUDA packages built for it,
      # which then come from no binary cache (the community CUDA cache builds nixpkgs' default
      # config): nix/README.md, "CUDA capabilities". The packages themselves load CUDA at run time.
      cudaCapabilities = ["7.5" "8.0" "8.6" "8.9" "9.0"];
      cudaForwardCompat = true;
    };
    # The CUDA backend's cudarc (features driver, nvrtc, dynamic-loading) loads libcuda (the driver's,
    # injected by the container toolkit) and libnvrtc (run-time kernel compilation) by name.
    runtimeLibraries = [
      ["cudaPackages" "cuda_nvrtc"]
    ];
    driverRunpath = true;
    systems = ["x86_64-linux" "aarch64-linux"];
  };

  rocm = {
    accelerator = "rocm";
    # The ROCm backend dlopens libamdhip64 and libhiprtc (with its builtins), all three in clr. clr's own
    # output also holds hipcc and its wrappers, which reference the whole ROCm LLVM toolchain:
    # only these libraries go in, with what they link (HSA runtime, comgr, numactl, ...).
    runtimeLibraries = [
      {
        path = ["rocmPackages" "clr"];
        keep = ["libamdhip64.so*" "libhiprtc.so*" "libhiprtc-builtins.so*"];
      }
    ];
    systems = ["x86_64-linux"];
  };

  vulkan = {
    accelerator = "vulkan";
    # The loader, and the X11 libraries NVIDIA's Vulkan driver (libGLX_nvidia, mounted by the
    # container toolkit) links without the toolkit mounting them.
    runtimeLibraries = [
      ["vulkan-loader"]
      ["xorg" "libX11"]
      ["xorg" "libXext"]
    ];
    # Mesa: lavapipe (CPU), RADV, ANV. NVIDIA's ICD comes from the container toolkit.
    vulkanDrivers = [
      ["mesa"]
    ];
    driverRunpath = true;
    systems = ["x86_64-linux" "aarch64-linux"];
  };
}
