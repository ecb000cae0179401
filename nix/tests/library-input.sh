# shellcheck shell=bash
# Sourced by the tests that evaluate a workspace calling this checkout as its `deps-layer` flake
# input (mkflake.sh, adopt.sh). Needs $checkout, $work and $system set, and say(); defines
# $library, flake, nixc and the derivation readers below.
: "${checkout:?}" "${work:?}" "${system:?}"

# The library: this checkout's files (tracked and unignored), as the input `deps-layer`.
library="$work/library"
mkdir -p "$library"
(cd "$checkout" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) | tar -xf - -C "$library"

# A workspace's flake.nix calling the library's mkFlake with the given arguments (Nix text).
flake() { # DIR MKFLAKE-ARGUMENTS
  cat >"$1/flake.nix" <<EOF
{
  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixpkgs-unstable";
    deps-layer.url = "github:example/deps-layer";
  };
  outputs = inputs:
    inputs.deps-layer.lib.mkFlake {
      inherit inputs;
      root = ./.;
$2
    };
}
EOF
}

# --- running nix --------------------------------------------------------------------------------
# Through the harness the library's own inputs need local copies too: the harness's flags for the
# library, each input renamed deps-layer/<input>.
extra=(--override-input deps-layer "path:$library")
if [[ -n "${NIX_EVAL_SH:-}" ]]; then
  mkdir -p "$work/advisory-db"
  read -ra flags <<<"$(bash "$NIX_EVAL_SH" "$library" overrides --override-input advisory-db x)"
  prev=
  for f in "${flags[@]}"; do
    if [[ "$prev" == --override-input ]]; then
      extra+=(--override-input "deps-layer/$f")
    elif [[ "$f" == path:* ]]; then
      extra+=("$f")
    fi
    prev=$f
  done
  extra+=(--override-input deps-layer/advisory-db "path:$work/advisory-db")
  say "mode: nix-eval harness ($NIX_EVAL_SH)"
else
  say "mode: $(nix --version)"
fi
nixc() { # DIR NIX-ARGS...
  local dir=$1
  shift
  if [[ -n "${NIX_EVAL_SH:-}" ]]; then
    bash "$NIX_EVAL_SH" "$dir" "$@" "${extra[@]}" 2> >(grep -v -e 'crane requires at least' -e '^• Removed input' -e 'has an override for a non-existent input' >&2)
  else
    (cd "$dir" && nix --extra-experimental-features 'nix-command flakes' "$@" "${extra[@]}")
  fi
}
show() { nixc "$1" derivation show "path:.#$2" | jq 'to_entries[0].value'; } # DIR ATTR -> the derivation
env_of() { show "$1" "$2" | jq -r --arg k "$3" '.env[$k] // "unset"'; }   # DIR ATTR VAR
# the store names (hash cut) of a derivation's build inputs matching REGEX, sorted, space-separated
inputs_of() { # DIR ATTR REGEX
  show "$1" "$2" | jq -r '[.env.nativeBuildInputs, .env.buildInputs] | map(. // "") | join(" ")' |
    tr ' ' '\n' | sed -n 's|^/nix/store/[a-z0-9]\{32\}-||p' | grep -E "$3" | sort -u | paste -sd ' ' || true
}
# the same without versions and outputs (pkg-config-wrapper-0.29.2 -> pkg-config-wrapper)
names_of() { inputs_of "$@" | tr ' ' '\n' | sed 's/-[0-9].*//' | sort -u | paste -sd ' '; }
image_config() { # DIR ATTR -> the image's OCI config
  nixc "$1" derivation show --recursive "path:.#$2" |
    jq -r '[.[] | select(.env.name // "" | endswith("-base.json"))][0].env.text' | jq .config
}
src_files() { # DIR ATTR -> the files of the derivation's source, relative
  # shellcheck disable=SC2016 # Nix's ${...}, not the shell's
  nixc "$1" eval --json "path:.#$2" --apply 'd: let
    walk = dir: prefix: builtins.concatLists (builtins.attrValues (builtins.mapAttrs (n: t:
      if t == "directory" then walk "${dir}/${n}" "${prefix}${n}/" else ["${prefix}${n}"]) (builtins.readDir dir)));
  in walk d.src ""' | jq -r 'join(" ")'
}

