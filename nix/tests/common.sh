# shellcheck shell=bash
# Sourced by the nix/tests scripts: their report (say, fail, expect, finish), the tools they
# require, a scratch folder removed at exit, and nix-instantiate without a daemon or store.
set -euo pipefail

# shellcheck disable=SC2034 # checkout and system are for the scripts that source this file
checkout=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck disable=SC2034
system=${EVAL_SYSTEM:-x86_64-linux}
test_name=$(basename "$0")
work=$(mktemp -d "${TMPDIR:-/tmp}/${test_name%.sh}.XXXXXX")
[[ "${KEEP_EVAL_TMP:-0}" == 1 ]] || trap 'rm -rf "$work"' EXIT
failures=0

say() { printf '%s\n' "$*"; }
fail() {
  printf 'FAIL: %s\n' "$*"
  failures=$((failures + 1))
}
expect() { # WHAT ACTUAL EXPECTED
  if [[ "$2" == "$3" ]]; then
    say "    ok: $1"
  else
    fail "$1: got '$2', expected '$3'"
  fi
}
# The end of a test: its verdict and exit code.
finish() {
  if ((failures > 0)); then
    say "$test_name: $failures failure(s)"
    exit 1
  fi
  say "$test_name: all assertions passed"
}
require() { # TOOL...
  local tool
  for tool; do
    command -v "$tool" >/dev/null || {
      echo "$test_name: $tool is required (run inside \`nix develop\`)" >&2
      exit 2
    }
  done
}

# Evaluation writes nothing to /nix: a dummy store and state folders of the test's own.
mkdir -p "$work/nix-state/conf"
: >"$work/nix-state/conf/nix.conf"
nix_instantiate() {
  local state="$work/nix-state"
  NIX_STATE_DIR="$state/state" NIX_LOG_DIR="$state/log" NIX_CONF_DIR="$state/conf" \
    NIX_USER_CONF_FILES="$state/conf/nix.conf" XDG_CACHE_HOME="$state/cache" \
    nix-instantiate --store dummy:// "$@"
}
