#!/usr/bin/env bash
# Reads Nix store paths, one a line, and prints those that are NVIDIA CUDA packages as nixpkgs
# names them: every member of a cudaPackages set (`<hash>-cuda12.9-cuda_nvrtc-12.9.86-lib`: the
# set's `cudaX.Y-` prefix, nixpkgs 25.05 and later), the same redistributables without the prefix
# (older nixpkgs: `<hash>-cuda_nvrtc-12.2.140-lib`), the toolkit and NVIDIA's driver packages.
# The workflow keeps any path whose runtime closure holds one of them out of the public cache.
#   nix path-info --recursive PATH | .github/scripts/cuda-store-paths.sh
set -euo pipefail

unprefixed='cuda_[a-z0-9_]+|cudatoolkit|cuda-merged|cudnn|cutensor|cusparselt|libcublas|libcudla|libcufft|libcufile|libcurand|libcusolver|libcusparse|libnpp|libnvfatbin|libnvjitlink|libnvjpeg|libnvtiff|libnvidia_nscq|nccl|nsight_[a-z_]+|nvidia_driver|nvidia_fs|fabricmanager|tensorrt|nvidia-x11'
grep -E "^/nix/store/[a-z0-9]{32}-(cuda[0-9]+\.[0-9]+-|($unprefixed)[-_])" || true
