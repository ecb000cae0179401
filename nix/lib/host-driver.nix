# Where a host's GPU driver lives when it is not NixOS: what containers get mounted by the NVIDIA
# container toolkit, and what a dev shell on Debian, Ubuntu or RHEL finds. nixpkgs' glibc ignores
# /etc/ld.so.cache and nixpkgs' vulkan-loader searches /run/opengl-driver/share instead of /etc
# (SYSCONFDIR; pkgs/by-name/vu/vulkan-loader/package.nix), so both must be told these paths.
{
  # The driver's libraries: Debian/Ubuntu's multiarch dir, RHEL's lib64, or the bare /usr/lib.
  libraryDirs = system:
    {
      x86_64-linux = ["/usr/lib/x86_64-linux-gnu" "/usr/lib64" "/usr/lib"];
      aarch64-linux = ["/usr/lib/aarch64-linux-gnu" "/usr/lib64" "/usr/lib"];
    }
    .${system}
    or ["/usr/lib64" "/usr/lib"];

  # Vulkan driver manifests (ICD JSON files): the toolkit mounts NVIDIA's into one of these, as
  # the host's packages install it. VK_ADD_DRIVER_FILES takes directories as well as files
  # (Vulkan-Loader docs/LoaderDriverInterface.md, "Additional Driver Discovery").
  vulkanDriverDirs = ["/etc/vulkan/icd.d" "/usr/share/vulkan/icd.d"];

  # Where the loader looks by itself when XDG_DATA_DIRS is unset, as in the images: its
  # FALLBACK_DATA_DIRS default (loader/loader.c), which nixpkgs does not change. A driver dir
  # under one of these must not be added again: the same driver would show each GPU twice.
  # nix develop sets XDG_DATA_DIRS to store paths, so a dev shell needs them all.
  loaderFallbackDataDirs = ["/usr/local/share" "/usr/share"];

  # The driver's own libraries, linked one by one into a dev shell's library path: the whole
  # distribution lib dir would also shadow nixpkgs' libraries (libc++, OpenSSL, ...) with the host's.
  #   libcuda, libnvidia-*: CUDA driver and what it loads (PTX JIT, ...); libGLX_nvidia: NVIDIA's
  #   Vulkan ICD; libnvcuvid/libnvoptix not needed for compute.
  libraryPatterns = ["libcuda.so*" "libnvidia-*.so*" "libGLX_nvidia.so*"];
}
