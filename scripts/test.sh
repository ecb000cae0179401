#!/usr/bin/env bash
# The test command of the README for machines without Nix. Installs what is missing first
# (scripts/setup.sh: quick when everything is there), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
# where setup.sh puts alejandra and deadnix
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

# The vulkan backend's device tests run on Mesa's lavapipe (installed by scripts/setup.sh) and fail
# instead of skipping when no Vulkan device opens; KNN_REQUIRE_VULKAN=0 lets them skip.
lavapipe_icd=$(compgen -G '/usr/share/vulkan/icd.d/lvp_icd.*.json' | head -n 1 || true)
if [[ -n "$lavapipe_icd" ]]; then
  export VK_DRIVER_FILES="$lavapipe_icd" VK_ICD_FILENAMES="$lavapipe_icd"
fi
export KNN_REQUIRE_VULKAN="${KNN_REQUIRE_VULKAN:-1}"
# knn-server's full-disk and read-only tests mount a tmpfs in a private mount namespace (root,
# util-linux's unshare and nsenter) and fail instead of skipping where none can be made.
export KNN_REQUIRE_MOUNT_NAMESPACE="${KNN_REQUIRE_MOUNT_NAMESPACE:-1}"
# deps-layer's init test with a read-only root, the same way
export DEPS_LAYER_REQUIRE_MOUNT_NAMESPACE="${DEPS_LAYER_REQUIRE_MOUNT_NAMESPACE:-1}"

cargo test --workspace --locked
# knn-server's Vulkan adapter report and refusal, through its router and binary on lavapipe
cargo test -p knn-server --features vulkan --locked --test vulkan_adapter

# nix/deps must be what deps-layer generates from the current dependency graph
cargo run --locked -p deps-layer -- check

# the revisions `deps-layer init` pins new flakes to must be flake.lock's
scripts/update-init-pins.sh --check

# nix/: parse, format, lint, nix/lib unit tests, flake evaluation where the harness exists
nix/tests/run.sh
