#!/usr/bin/env bash
# The deps layers through a binary cache, for real: sign and push the layers of the given variants
# to a cache, delete them (and the packages) from the local store, then build each package with
# only that cache as substituter. Expected: `--dry-run` lists the layer under "will be fetched",
# the build fetches it and compiles only workspace crates. Then the same with the cache's key not
# trusted: substituting the layer is refused, and the build rebuilds it.
#
#   nix/tests/cache.sh [VARIANT...]                          # default: every variant, plain nix
#   CACHE=file:///srv/cache KEY=/path/cache.sec nix/tests/cache.sh cpu
#   NIX_BUILD_SH=../shared/nix-eval/build.sh nix/tests/cache.sh cpu   # the nix-eval build mode
#
# Environment: CACHE (default: a new file:// cache in a temporary dir), KEY (secret key file;
# default: a new key pair), SYSTEM (default x86_64-linux), FLAKE (default: this checkout; the
# flake is read as path:, so uncommitted files count), EXTRA_NIX_ARGS (added to every flake
# command, e.g. --override-input ...), REBUILD_UNTRUSTED=0 (stop the untrusted case at its dry run
# instead of rebuilding the layer). The layers are built first if missing.
# It deletes the tested layers and packages from the local store: run it where that is fine.
set -euo pipefail

flake=$(cd "${FLAKE:-$(dirname "$0")/../..}" && pwd)
system=${SYSTEM:-x86_64-linux}
work=$(mktemp -d "${TMPDIR:-/tmp}/cache-test.XXXXXX")
failures=0
# kept when something fails: the cache in it still holds the pushed layers
trap '((failures == 0)) && rm -rf "$work" || echo "kept $work"' EXIT
read -r -a extra <<<"${EXTRA_NIX_ARGS:-}"
fail() {
  printf 'FAIL: %s\n' "$*"
  failures=$((failures + 1))
}
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# Flake commands go through the build-mode wrapper when given; store commands use the same store.
if [[ -n "${NIX_BUILD_SH:-}" ]]; then
  store_nix=${NIX_EVAL_HOME:-${TMPDIR:-/tmp}/nix-eval}/build/bin/nix
  flake_nix() { bash "$NIX_BUILD_SH" "$flake" "$@" "${extra[@]}"; }
else
  store_nix=nix
  flake_nix() { (cd "$flake" && nix --extra-experimental-features 'nix-command flakes' "$@" "${extra[@]}"); }
fi
store() { "$store_nix" --extra-experimental-features nix-command "$@"; }
store_query() { "$(dirname "$(command -v "$store_nix")")/nix-store" --query "$@"; }

# zstd: the layers are already zstd archives, xz (the default) would spend minutes on them
cache=${CACHE:-file://$work/cache?compression=zstd}

if [[ -n "${KEY:-}" ]]; then
  secret=$KEY
else
  secret=$work/cache.sec
  store key generate-secret --key-name "cache-test-$(date +%s)" >"$secret"
fi
public=$(store key convert-secret-to-public <"$secret")
if [[ "$cache" == *\?* ]]; then push_url="$cache&secret-key=$secret"; else push_url="$cache?secret-key=$secret"; fi
other_public=$(store key generate-secret --key-name untrusted | store key convert-secret-to-public)
echo "cache: $cache"
echo "trusted key: $public"

if [[ $# -gt 0 ]]; then
  variants=("$@")
else
  # shellcheck disable=SC2016 # a Nix expression, not shell
  mapfile -t variants < <(flake_nix eval --json "path:.#packages.$system" --apply \
    'ps: builtins.filter (n: ps ? "deps-${n}" && ps ? "image-${n}") (builtins.attrNames ps)' | tr -d '[]"' | tr ',' '\n')
fi

out_of() { flake_nix eval --raw "path:.#packages.$system.$1.outPath"; }

for v in "${variants[@]}"; do
  echo "== $v"
  layer=$(out_of "deps-$v")
  common=$(out_of deps-common)
  package=$(out_of "$v")
  echo "  layer   $layer"
  echo "  package $package"

  # 1. the layer, built (or already there), signed and pushed with its closure
  flake_nix build --no-link "path:.#packages.$system.deps-$v"
  t=$(date +%s%N)
  store copy --to "$push_url" "$layer"
  echo "  pushed to the cache in $(ms_since "$t") ms"

  forget() { # the package and the layers leave the local store, with what refers to them
    # (other variants' layers link deps-common's archive as their base)
    # and older images that embed this package)
    mapfile -t doomed < <(store_query --referrers-closure "$layer" "$common" "$package" 2>/dev/null)
    store store delete "${doomed[@]}" >/dev/null 2>&1 || true
    if store path-info "$layer" >/dev/null 2>&1 || store path-info "$package" >/dev/null 2>&1; then
      echo "  cannot delete $layer or $package from the local store; still referenced by:" >&2
      store store roots 2>/dev/null | grep -e "$layer" -e "$package" -e "$common" >&2 || true
      failures=$((failures + 1))
      exit 1
    fi
  }

  # 2. trusted: the layer is fetched, only workspace crates compile
  forget
  with_cache=(--option substituters "$cache" --option trusted-public-keys "$public")
  flake_nix build --dry-run "${with_cache[@]}" "path:.#packages.$system.$v" 2>&1 | tee "$work/dry-$v.txt" | sed 's/^/  dry-run: /'
  fetched=$(sed -n '/will be fetched/,/will be built/p' "$work/dry-$v.txt")
  grep -qF "$layer" <<<"$fetched" || fail "$v: the dry run does not fetch $layer"
  t=$(date +%s%N)
  flake_nix build --no-link -L "${with_cache[@]}" "path:.#packages.$system.$v" >"$work/build-$v.log" 2>&1 ||
    fail "$v: build with the cache failed (log: $work/build-$v.log)"
  echo "  build with the layer fetched: $(ms_since "$t") ms"
  grep -E "copying path '$layer'" "$work/build-$v.log" | sed 's/^/  /' || fail "$v: $layer was not fetched"
  compiled=$(sed -n 's/.*Compiling \([^ ]*\) v[^ ]* (\(.*\))$/\1 \2/p; s/.*Compiling \([^ ]*\) v[^ ]*$/\1 registry/p' "$work/build-$v.log" | sort -u)
  # cargo names a path crate with its directory and a registry (vendored) crate with none
  external=$(awk '$2 == "registry" {print $1}' <<<"$compiled")
  echo "  compiled by the package: $(awk '{print $1}' <<<"$compiled" | tr '\n' ' ')"
  [[ -z "$external" ]] || fail "$v: external crates compiled again after the fetched layer: $external"

  # 3. untrusted: the substitute is refused and the layer is built again
  forget
  untrusted=(--option substituters "$cache" --option trusted-public-keys "$other_public")
  flake_nix build --dry-run "${untrusted[@]}" "path:.#packages.$system.$v" 2>&1 | tee "$work/dry-untrusted-$v.txt" | sed 's/^/  dry-run (key not trusted): /'
  # A dry run lists what the substituter has, without checking signatures; the refusal shows when
  # the path is actually substituted.
  if store copy --from "$cache" --option trusted-public-keys "$other_public" "$layer" >"$work/refused-$v.txt" 2>&1; then
    fail "$v: the layer was substituted though its signature is not trusted"
  else
    grep -m1 -i 'signature' "$work/refused-$v.txt" | sed 's/^/  substitution refused: /'
  fi
  if [[ "${REBUILD_UNTRUSTED:-1}" == 1 ]]; then
    t=$(date +%s%N)
    flake_nix build --no-link -L "${untrusted[@]}" "path:.#packages.$system.$v" >"$work/build-untrusted-$v.log" 2>&1 ||
      fail "$v: build without a trusted key failed"
    echo "  build with the layer rebuilt: $(ms_since "$t") ms"
    grep -c "building '.*$(basename "$layer" | cut -c34-).drv'" "$work/build-untrusted-$v.log" >/dev/null ||
      fail "$v: the layer was not rebuilt"
  fi

  # 4. leave the store as found: the layer back, from the cache
  flake_nix build --no-link "${with_cache[@]}" "path:.#packages.$system.deps-$v"
done

if ((failures > 0)); then
  echo "cache.sh: $failures failure(s)"
  exit 1
fi
echo "cache.sh: all assertions passed"
