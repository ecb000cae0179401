#!/usr/bin/env bash
# Installs what scripts/test.sh and .ci/run need on a Debian-like machine without Nix, and only what
# is missing: a second run finds everything and changes nothing (no `apt-get update` then).
#   system packages (apt, as root): nix-bin (nix-instantiate for nix/ and cache-report's tests),
#     mesa-vulkan-drivers + libvulkan1 (lavapipe: the Vulkan device tests run on it),
#     pkg-config, ca-certificates, shellcheck (actionlint runs it), jq (nix/tests read plan.json)
#   cargo tools (into $CARGO_HOME/bin, any user): alejandra (nix/tools/alejandra), deadnix
# Not root and a system package missing: prints the command to run as root and exits 1.
#   scripts/setup.sh            install what is missing
#   scripts/setup.sh --check    only report; exit 1 if anything is missing
set -euo pipefail
cd "$(dirname "$0")/.."

check_only=false
case "${1:-}" in
  "") ;;
  --check) check_only=true ;;
  *)
    echo "usage: scripts/setup.sh [--check]" >&2
    exit 2
    ;;
esac

apt_packages=(nix-bin mesa-vulkan-drivers libvulkan1 shellcheck pkg-config ca-certificates jq)
# deadnix's version is pinned so that every machine lints the same way.
deadnix_version=1.2.1

cargo_bin=${CARGO_HOME:-$HOME/.cargo}/bin
export PATH="$cargo_bin:$PATH"

missing_apt=()
if command -v dpkg-query >/dev/null; then
  for p in "${apt_packages[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
    [[ "$status" == ii* ]] || missing_apt+=("$p")
  done
else
  # Not Debian: the packages' names differ, so ask for what the tests actually use.
  for c in nix-instantiate shellcheck pkg-config jq; do
    command -v "$c" >/dev/null || missing_apt+=("$c (command)")
  done
  compgen -G '/usr/share/vulkan/icd.d/lvp_icd.*.json' >/dev/null ||
    missing_apt+=("Mesa's lavapipe Vulkan driver (/usr/share/vulkan/icd.d/lvp_icd.*.json)")
fi

missing_cargo=()
command -v alejandra >/dev/null || missing_cargo+=(alejandra)
if ! command -v deadnix >/dev/null; then
  missing_cargo+=(deadnix)
elif [[ "$(deadnix --version 2>/dev/null)" != *" $deadnix_version" ]]; then
  echo "setup: note: $(command -v deadnix) is $(deadnix --version 2>/dev/null), not $deadnix_version; kept"
fi

if ((${#missing_apt[@]} == 0 && ${#missing_cargo[@]} == 0)); then
  echo "setup: everything is installed"
  exit 0
fi
((${#missing_apt[@]} == 0)) || echo "setup: missing system packages: ${missing_apt[*]}"
((${#missing_cargo[@]} == 0)) || echo "setup: missing cargo tools: ${missing_cargo[*]}"
if $check_only; then
  exit 1
fi

if ((${#missing_apt[@]} > 0)); then
  if ! command -v apt-get >/dev/null; then
    echo "setup: missing, and no apt-get to install them: ${missing_apt[*]}" >&2
    echo "setup: install them with your distribution's package manager, then run this again" >&2
    exit 1
  fi
  if ((EUID != 0)); then
    echo "setup: installing system packages needs root; run as root (or with sudo):" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends ${missing_apt[*]}" >&2
    echo "setup: then run this again (the cargo tools install as any user)" >&2
    exit 1
  fi
  echo "setup: apt-get install ${missing_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing_apt[@]}" >/dev/null
fi

if ((${#missing_cargo[@]} > 0)) && ! command -v cargo >/dev/null; then
  echo "setup: no cargo on PATH to install ${missing_cargo[*]}" >&2
  echo "setup: install Rust with rustup (https://rustup.rs), then run this again" >&2
  exit 1
fi

for tool in "${missing_cargo[@]}"; do
  echo "setup: cargo install $tool (into $cargo_bin)"
  case "$tool" in
    # crates.io ships alejandra only as a library; nix/tools/alejandra is its command line
    alejandra) cargo install --locked --quiet --path nix/tools/alejandra ;;
    deadnix) cargo install --locked --quiet deadnix --version "$deadnix_version" ;;
  esac
  command -v "$tool" >/dev/null || {
    echo "setup: installed $tool, yet it is not on PATH; add $cargo_bin to PATH" >&2
    exit 1
  }
done
echo "setup: done"
