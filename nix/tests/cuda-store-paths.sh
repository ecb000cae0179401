#!/usr/bin/env bash
# Tests .github/scripts/cuda-store-paths.sh, the filter that keeps CUDA out of the public cache,
# on store names as nixpkgs writes them (with and without the cudaPackages set's prefix) and on
# names that must pass (ours, and free packages whose names merely contain "cuda" or "nvidia").
set -euo pipefail
cd "$(dirname "$0")/../.."

h=0123456789abcdfghijklmnpqrsvwxyz
cuda=(
  "/nix/store/$h-cuda12.9-cuda_nvrtc-12.9.86-lib"
  "/nix/store/$h-cuda12.9-cuda_nvrtc-12.9.86"
  "/nix/store/$h-cuda12.8-cuda_cudart-12.8.90"
  "/nix/store/$h-cuda12.6-libcublas-12.6.4.1-lib"
  "/nix/store/$h-cuda13.0-cudnn-9.13.0.50-lib"
  "/nix/store/$h-cuda12.9-nccl-2.27.3-1"
  "/nix/store/$h-cuda_nvrtc-12.2.140-lib"
  "/nix/store/$h-libcublas-12.2.5.6"
  "/nix/store/$h-cudatoolkit-12.2.2"
  "/nix/store/$h-nvidia-x11-570.153.02-6.12.41"
)
ours=(
  "/nix/store/$h-knn-server-cuda-0.1.0"
  "/nix/store/$h-workspace-deps-deps-cuda-0.0.0"
  "/nix/store/$h-knn-server-service-0.1.0"
  "/nix/store/$h-glibc-2.40-66"
  "/nix/store/$h-cargo-package-cudarc-0.16.6"
  "/nix/store/$h-python3.12-pycuda-2024.1.2"
  "/nix/store/$h-nvidia-container-toolkit-1.17.8"
  "/nix/store/$h-opencuda-1.0"
  "/nix/store/$h-cuda_nvrtc"
  "/nix/store/short-cuda12.9-cuda_nvrtc-12.9.86-lib"
)
failures=0
matched=$(printf '%s\n' "${cuda[@]}" "${ours[@]}" | .github/scripts/cuda-store-paths.sh)
for p in "${cuda[@]}"; do
  grep -qxF "$p" <<<"$matched" || {
    echo "FAIL: not recognised as CUDA: $p"
    failures=$((failures + 1))
  }
done
for p in "${ours[@]}"; do
  if grep -qxF "$p" <<<"$matched"; then
    echo "FAIL: taken for CUDA: $p"
    failures=$((failures + 1))
  fi
done
# Nothing on stdin is no CUDA, and no error.
[[ -z "$(.github/scripts/cuda-store-paths.sh </dev/null)" ]] || {
  echo "FAIL: empty input printed something"
  failures=$((failures + 1))
}
if ((failures > 0)); then
  echo "cuda-store-paths: $failures failure(s)"
  exit 1
fi
echo "cuda-store-paths: ${#cuda[@]} CUDA names recognised, ${#ours[@]} others passed"
