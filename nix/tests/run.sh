#!/usr/bin/env bash
# The Nix part of scripts/test.sh: parse every .nix file, check formatting (alejandra) and dead
# code (deadnix), run the nix/lib unit tests, the CI's CUDA store-path filter test, `deps-layer init`
# on the adopt fixture (nix/tests/adopt.sh), the fixed vendor path against other users
# (nix/tests/vendor-trust.sh: root, a mount namespace) and the flake evaluation tests (nix/tests/eval.sh,
# nix/tests/mkflake.sh, adopt.sh's evaluation)
# where the nix-eval harness and its snapshots are set up.
# Needs nix-instantiate (any Nix >= 2.8), alejandra and deadnix on PATH (scripts/setup.sh installs them).
# Nothing is written to /nix: evaluation uses a dummy store and temporary state directories.
# shellcheck source=nix/tests/common.sh
. "$(dirname "$0")/common.sh"
cd "$checkout"

mapfile -t nix_files < <(find . \( -name .git -o -name target -o -name 'result*' \) -prune -o -name '*.nix' -type f -print | sort)

echo "== nix: parse ${#nix_files[@]} files"
for f in "${nix_files[@]}"; do
  nix_instantiate --parse "$f" >/dev/null || {
    echo "nix: cannot parse $f" >&2
    exit 1
  }
done

echo "== nix: alejandra --check"
alejandra --check .

echo "== nix: deadnix"
deadnix --fail "${nix_files[@]}"

echo "== nix: nix/lib unit tests"
nix_instantiate --eval --strict nix/tests/lib.nix
echo "== nix: the CI's CUDA store-path filter"
nix/tests/cuda-store-paths.sh
echo "== nix: vendored sources at the fixed path, against other users and builds (no sandbox)"
nix/tests/vendor-trust.sh
echo "== nix: flake evaluation tests"
harness=${NIX_EVAL_SH:-}
if [[ -z "$harness" && -x ../shared/nix-eval/eval.sh ]]; then
  harness=$(cd ../shared/nix-eval && pwd)/eval.sh
fi
standin=${NIX_EVAL_HOME:-${TMPDIR:-/tmp}/nix-eval}/inputs/nixpkgs-standin/flake.nix
if [[ -n "$harness" && -f "$standin" ]]; then
  NIX_EVAL_SH="$harness" nix/tests/eval.sh
  echo "== nix: lib.mkFlake on other workspaces"
  NIX_EVAL_SH="$harness" nix/tests/mkflake.sh
  echo "== nix: deps-layer init on a workspace shaped unlike this one"
  NIX_EVAL_SH="$harness" nix/tests/adopt.sh
  echo "== nix: a git dependency at two revisions"
  NIX_EVAL_SH="$harness" nix/tests/git-dependency.sh
else
  echo "skipped: no nix-eval harness with snapshots (../shared/nix-eval after its setup.sh);" \
    "users' CI runs nix/tests/eval.sh against real nixpkgs"
  echo "== nix: deps-layer init on a workspace shaped unlike this one (init, plan; no evaluation)"
  ADOPT_EVAL=0 nix/tests/adopt.sh
fi
