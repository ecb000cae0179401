#!/usr/bin/env bash
# The test command of the README for machines without Nix. Assumes the tools `.ci/run` installs.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --locked

# nix/: parse, format, lint, nix/lib unit tests, flake evaluation where the harness exists
nix/tests/run.sh
