#!/usr/bin/env bash
# Flake evaluation tests: evaluates every output of one system and asserts, on real drvPaths, that
# the dependency layers are keyed by the external dependency graph only. Builds nothing.
#
#   nix/tests/eval.sh                                        # plain `nix` (real nixpkgs, network)
#   NIX_EVAL_SH=../shared/nix-eval/eval.sh nix/tests/eval.sh # through the offline nix-eval harness
#
# Every mutation happens in a temporary copy of the checkout, never in the checkout itself. The
# layer is regenerated in each copy with `cargo run -p deps-layer -- generate`, so what is compared
# is what a developer would commit. Needs cargo and jq on PATH (in users' CI: `nix develop -c`).
# Environment: EVAL_SYSTEM (default x86_64-linux), EVAL_SOURCE=head (test the last commit instead
# of the working tree), KEEP_EVAL_TMP=1 keeps the copies.
set -euo pipefail

checkout=$(cd "$(dirname "$0")/../.." && pwd)
system=${EVAL_SYSTEM:-x86_64-linux}
work=$(mktemp -d "${TMPDIR:-/tmp}/flake-eval.XXXXXX")
[[ "${KEEP_EVAL_TMP:-0}" == 1 ]] || trap 'rm -rf "$work"' EXIT
failures=0

for tool in cargo jq; do
  command -v "$tool" >/dev/null || {
    echo "eval.sh: $tool is required (run inside \`nix develop\`)" >&2
    exit 2
  }
done

say() { printf '%s\n' "$*"; }
fail() {
  printf 'FAIL: %s\n' "$*"
  failures=$((failures + 1))
}
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# --- running nix ----------------------------------------------------------------------------
# The harness redirects every input to a local copy and stops at inputs it does not know:
# advisory-db (a plain source tree) gets an empty directory.
extra=()
if [[ -n "${NIX_EVAL_SH:-}" ]]; then
  mkdir -p "$work/advisory-db"
  extra=(--override-input advisory-db "path:$work/advisory-db")
  say "mode: nix-eval harness ($NIX_EVAL_SH); drvPaths comparable only with each other"
else
  say "mode: $(nix --version)"
fi
nixc() {
  local dir=$1
  shift
  if [[ -n "${NIX_EVAL_SH:-}" ]]; then
    bash "$NIX_EVAL_SH" "$dir" "$@" "${extra[@]}" 2> >(grep -v -e 'crane requires at least' -e "^• Removed input 'naersk/fenix" >&2)
  else
    (cd "$dir" && nix --extra-experimental-features 'nix-command flakes' "$@")
  fi
}
drv_paths() { # DIR OUTPUT-SET -> JSON { name: drvPath }, images left out (compared elsewhere)
  nixc "$1" eval --json "path:.#$2.$system" --apply \
    'ps: builtins.mapAttrs (_: d: d.drvPath) (removeAttrs ps (builtins.filter (n: builtins.substring 0 6 n == "image-") (builtins.attrNames ps)))'
}

# --- copies and mutations -------------------------------------------------------------------
copy_checkout() { # DEST: the checkout's files (tracked and unignored, or the last commit)
  mkdir -p "$1"
  if [[ "${EVAL_SOURCE:-worktree}" == head ]]; then
    git -C "$checkout" archive HEAD | tar -xf - -C "$1"
  else
    (cd "$checkout" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) | tar -xf - -C "$1"
  fi
}
copy() { # NAME -> path of a fresh copy of the base
  cp -a "$work/base" "$work/$1"
  echo "$work/$1"
}
regenerate() {
  cargo run -q --locked --manifest-path "$checkout/Cargo.toml" -p deps-layer -- \
    generate --manifest-path "$1/Cargo.toml" >/dev/null
}
update_lock() { # DIR: record member changes in the lock, touching no external entry
  cargo update -q --workspace --offline --manifest-path "$1/Cargo.toml" 2>/dev/null ||
    cargo update -q --workspace --manifest-path "$1/Cargo.toml"
}
members() { sed -n 's/^name = "\(.*\)"/\1/p' "$1"/crates/*/Cargo.toml; }

snapshot() { # DIR TAG: drvPaths of packages and checks into $work/TAG.json
  local t
  t=$(date +%s%N)
  jq -s '.[0] + (.[1] | with_entries(.key |= "check:" + .))' \
    <(drv_paths "$1" packages) <(drv_paths "$1" checks) >"$work/$2.json"
  say "  evaluated $2 in $(ms_since "$t") ms"
}
get() { jq -r --arg k "$2" '.[$k] // "absent"' "$work/$1.json"; }
layers() { jq -r 'keys[] | select(startswith("deps-"))' "$work/base.json"; }

# --- the checkout as it is ------------------------------------------------------------------
say "== base: the checkout"
base="$work/base"
copy_checkout "$base"
if ! cargo metadata -q --locked --offline --format-version 1 --manifest-path "$base/Cargo.toml" >/dev/null 2>&1; then
  # Compare against a consistent state: record the manifests' changes in the copy's lock first.
  say "  note: Cargo.lock is out of date with the manifests; the copies use an updated lock"
  update_lock "$base"
  stale_lock=1
fi
regenerate "$base"
if diff -rq "$checkout/nix/deps" "$base/nix/deps" >/dev/null; then
  say "  committed nix/deps is what deps-layer generates"
elif [[ -n "${stale_lock:-}" ]]; then
  say "  note: nix/deps differs from what deps-layer generates for the updated lock"
else
  fail "committed nix/deps differs from what deps-layer generates (run: cargo run -p deps-layer -- generate)"
fi

t=$(date +%s%N)
nixc "$base" flake show "path:." >/dev/null 2>&1 || fail "flake show failed"
say "  flake show: $(ms_since "$t") ms"

# Every output of the system in one process, without the evaluation cache (cold): what a user's
# first `nix flake check` evaluates before building anything.
t=$(date +%s%N)
check_rc=0
nixc "$base" flake check --no-build --option eval-cache false "path:." >"$work/check.log" 2>&1 || check_rc=$?
say "  flake check --no-build ($system, cold): $(ms_since "$t") ms, $(grep -c '^derivation evaluated' "$work/check.log") derivations"
((check_rc == 0)) || {
  grep -v -e '^evaluating' -e '^checking' "$work/check.log" | tail -20
  fail "flake check --no-build failed"
}
for set in packages checks devShells; do
  nixc "$base" eval --json "path:.#$set.$system" --apply 'builtins.mapAttrs (_: d: d.drvPath)' >"$work/all-$set.json"
  jq -r --arg s "$set" 'to_entries[] | "    \($s).\(.key) \(.value)"' "$work/all-$set.json"
done
say "    formatter $(nixc "$base" eval --raw "path:.#formatter.$system.drvPath")"
say "    apps.deps-layer $(nixc "$base" eval --raw "path:.#apps.$system.deps-layer.program")"

snapshot "$base" base
crane_default() {
  nixc "$1" eval --raw "path:.#legacyPackages.$system.comparison.deps-crane-default.drvPath"
}
crane_base=$(crane_default "$base")

# --- (a)-(d): the layers must not move --------------------------------------------------------
expect_layers_unchanged() { # TAG
  local name before after
  for name in $(layers); do
    before=$(get base "$name")
    after=$(get "$1" "$name")
    say "    $name $after"
    [[ "$before" == "$after" ]] || fail "($1) $name changed: $before -> $after"
  done
}

say "== (a) edit a .rs file"
a=$(copy a)
printf '\n// an edit that changes no dependency\npub fn eval_probe() -> u32 { 42 }\n' >>"$a/crates/knn-core/src/lib.rs"
regenerate "$a"
snapshot "$a" a
expect_layers_unchanged a
[[ "$(get base cpu)" != "$(get a cpu)" ]] || fail "(a) the cpu package did not change after a source edit"

say "== (b) bump every member's version"
b=$(copy b)
sed -i 's/^version = "\([0-9]*\)\.\([0-9]*\)\.\([0-9]*\)"/version = "\1.\2.9\3"/' "$b/Cargo.toml" "$b"/crates/*/Cargo.toml
update_lock "$b"
! diff -q "$base/Cargo.lock" "$b/Cargo.lock" >/dev/null || fail "(b) the version bump did not reach Cargo.lock"
regenerate "$b"
snapshot "$b" b
expect_layers_unchanged b
say "    crane default buildDepsOnly { src = ./.; }: $crane_base -> $(crane_default "$b")"

say "== (c) add an internal crate that uses only existing dependencies"
c=$(copy c)
probe_dep=$(members "$base" | grep -x knn-core || members "$base" | head -1)
mkdir -p "$c/crates/eval-probe/src"
cat >"$c/crates/eval-probe/Cargo.toml" <<EOF
[package]
name = "eval-probe"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
$probe_dep = { path = "../$probe_dep" }
EOF
echo "pub use ${probe_dep//-/_} as inner;" >"$c/crates/eval-probe/src/lib.rs"
update_lock "$c"
regenerate "$c"
snapshot "$c" c
expect_layers_unchanged c
say "    crane default buildDepsOnly { src = ./.; }: $crane_base -> $(crane_default "$c")"

say "== (d) rename a member"
d=$(copy d)
# a member no other member depends on, so only its own manifest changes
leaf=""
for m in $(members "$base"); do
  if ! grep -l "^$m *=" "$base"/crates/*/Cargo.toml "$base/Cargo.toml" >/dev/null 2>&1; then
    leaf=$m
    break
  fi
done
[[ -n "$leaf" ]] || fail "(d) no member without dependents to rename"
sed -i "s/^name = \"$leaf\"/name = \"$leaf-renamed\"/" "$d"/crates/*/Cargo.toml
update_lock "$d"
regenerate "$d"
say "    renamed $leaf -> $leaf-renamed"
snapshot "$d" d
expect_layers_unchanged d

# --- (e), (f): the layers must move -----------------------------------------------------------
say "== (e) a locked external dependency changes version"
e=$(copy e)
dep=anyhow
current=$(grep -A1 "^name = \"$dep\"$" "$base/Cargo.lock" | sed -n 's/^version = "\(.*\)"/\1/p' | head -1)
target=1.0.100
[[ "$current" != "$target" ]] || target=1.0.99
cargo update -q --offline --manifest-path "$e/Cargo.toml" -p "$dep" --precise "$target" 2>/dev/null ||
  cargo update -q --manifest-path "$e/Cargo.toml" -p "$dep" --precise "$target"
regenerate "$e"
say "    $dep $current -> $target"
snapshot "$e" e
for name in $(layers); do
  say "    $name $(get e "$name")"
  [[ "$(get base "$name")" != "$(get e "$name")" ]] || fail "(e) $name did not change after $dep $current -> $target"
done

say "== (f) a variant's features change"
say "  (f1) cuda drops its features"
f=$(copy f1)
sed -i 's|^cuda = { features = \[.*\] }|cuda = { features = [] }|' "$f/Cargo.toml"
! diff -q "$base/Cargo.toml" "$f/Cargo.toml" >/dev/null || fail "(f1) could not change cuda's features in Cargo.toml"
regenerate "$f"
snapshot "$f" f1
say "    deps-cuda $(get base deps-cuda) -> $(get f1 deps-cuda)"
[[ "$(get base deps-cuda)" != "$(get f1 deps-cuda)" ]] || fail "(f1) deps-cuda did not change"
[[ "$(get f1 deps-cuda)" == "$(get f1 deps-common)" ]] || fail "(f1) feature-less cuda does not use deps-common"
say "  (f2) cuda also enables knn-server/vulkan"
f=$(copy f2)
sed -i 's|^cuda = { features = \["knn-server/cuda"|cuda = { features = ["knn-server/vulkan", "knn-server/cuda"|' "$f/Cargo.toml"
! diff -q "$base/Cargo.toml" "$f/Cargo.toml" >/dev/null || fail "(f2) could not change cuda's features in Cargo.toml"
regenerate "$f"
snapshot "$f" f2
say "    deps-cuda $(get base deps-cuda) -> $(get f2 deps-cuda)"
# The layer follows the external dependency graph: it moves exactly when the regenerated layer does.
if diff -rq "$base/nix/deps" "$f/nix/deps" >/dev/null; then
  say "    nix/deps unchanged (the added feature enables no other external crate)"
  [[ "$(get base deps-cuda)" == "$(get f2 deps-cuda)" ]] || fail "(f2) deps-cuda changed though nix/deps did not"
else
  say "    nix/deps changed: $(diff -r "$base/nix/deps" "$f/nix/deps" | grep -c '^[<>]') lines"
  [[ "$(get base deps-cuda)" != "$(get f2 deps-cuda)" ]] || fail "(f2) deps-cuda did not change though nix/deps did"
fi
for tag in f1 f2; do
  say "    also changed in ($tag) (reported, not asserted): $(jq -r --slurpfile o "$work/$tag.json" \
    '[to_entries[] | select(.value != $o[0][.key]) | .key] | join(" ")' "$work/base.json")"
done

# --- a variant without features is cpu ---------------------------------------------------------
say "== a feature-less variant equals cpu"
p=$(copy plain)
sed -i 's|^cpu = { features = \[\] }|&\nplain = { features = [] }|' "$p/Cargo.toml"
grep -q '^plain = ' "$p/Cargo.toml" || fail "could not add the variant plain to Cargo.toml"
regenerate "$p"
snapshot "$p" plain
while read -r x y; do
  say "    $x $(get plain "$x") = $y $(get plain "$y")"
  [[ "$(get plain "$x")" == "$(get plain "$y")" && "$(get plain "$x")" != absent ]] || fail "$x differs from $y"
done <<'PAIRS'
deps-plain deps-cpu
deps-plain deps-common
plain cpu
check:package-plain check:package-cpu
check:clippy-plain check:clippy-cpu
check:nextest-plain check:nextest-cpu
PAIRS
say "    deps-common vs the checkout (the layer lists one more feature): $(get base deps-common) -> $(get plain deps-common)"

# --- stacking and the single vendor directory, read from the derivations -------------------------
say "== stacking and vendored sources (derivation show)"
mapfile -t all_drvs < <(jq -r '.[]' "$work/base.json" | sort -u)
nixc "$base" derivation show "${all_drvs[@]}" >"$work/show.json"
env_of() { jq -r --arg d "$1" --arg k "$2" '.[$d].env[$k] // "null"' "$work/show.json"; }
out_of() { jq -r --arg d "$1" '.[$d].outputs.out.path' "$work/show.json"; }
common_out=$(out_of "$(get base deps-common)")
say "  deps-common out: $common_out"
for name in $(layers); do
  [[ "$name" != deps-common ]] || continue
  v=${name#deps-}
  layer_drv=$(get base "$name")
  if [[ "$layer_drv" != "$(get base deps-common)" ]]; then
    arts=$(env_of "$layer_drv" cargoArtifacts)
    say "  $name cargoArtifacts = $arts"
    [[ "$arts" == "$common_out" ]] || fail "$name does not stack on deps-common"
  fi
  layer_out=$(out_of "$layer_drv")
  for consumer in "$v" "check:clippy-$v" "check:nextest-$v"; do
    arts=$(env_of "$(get base "$consumer")" cargoArtifacts)
    say "  $consumer cargoArtifacts = $arts"
    [[ "$arts" == "$layer_out" ]] || fail "$consumer does not take $name ($layer_out)"
  done
done
vendor_dirs=$(jq -r '[.[] | .env.cargoVendorDir // empty | select(. != "")] | unique | .[]' "$work/show.json")
crane_drvs=$(jq -r '[.[] | select(.env.cargoVendorDir != null and .env.cargoVendorDir != "")] | length' "$work/show.json")
say "  cargoVendorDir over $crane_drvs crane derivations: $vendor_dirs"
[[ $(wc -l <<<"$vendor_dirs") == 1 && -n "$vendor_dirs" ]] || fail "more than one vendored-sources path"

# --- images: the generated config ------------------------------------------------------------------
say "== image configs (generated)"
image_check() { # VARIANT
  local show base_json created
  show="$work/image-$1.json"
  nixc "$base" derivation show --recursive "path:.#packages.$system.image-$1" >"$show"
  base_json=$(jq -r '[.[] | select(.env.name // "" | endswith("-base.json"))][0].env.text' "$show")
  created=$(jq -r '[.[] | select(.env.name // "" | endswith("-conf.json"))][0].env.created' "$show")
  echo "$base_json" | jq -c '{User: .config.User, ExposedPorts: .config.ExposedPorts, Volumes: .config.Volumes, Cmd: .config.Cmd}' | sed 's/^/    /'
  echo "$base_json" | jq -r '.config.Env[]' | sed 's|/nix/store/[a-z0-9]*-|/nix/store/…-|g; s/^/    env /'
  say "    created $created"
  [[ "$(echo "$base_json" | jq -r .config.User)" == 1000:1000 ]] || fail "image-$1 does not run as 1000:1000"
  echo "$base_json" | jq -e '.config.ExposedPorts["8080/tcp"]' >/dev/null || fail "image-$1 exposes no 8080/tcp"
  echo "$base_json" | jq -e '.config.Volumes["/data"]' >/dev/null || fail "image-$1 has no /data volume"
  [[ "$created" == 1970-01-01T00:00:01Z ]] || fail "image-$1 created is not fixed: $created"
  envs=$(echo "$base_json" | jq -r '.config.Env[]')
  case $1 in
  cuda)
    grep -qx 'NVIDIA_VISIBLE_DEVICES=all' <<<"$envs" || fail "image-cuda: NVIDIA_VISIBLE_DEVICES"
    grep -q '^NVIDIA_DRIVER_CAPABILITIES=.*compute' <<<"$envs" || fail "image-cuda: NVIDIA_DRIVER_CAPABILITIES"
    grep -q '^LD_LIBRARY_PATH=.*/usr/lib' <<<"$envs" || fail "image-cuda: LD_LIBRARY_PATH lacks the toolkit's driver dirs"
    ;;
  vulkan)
    grep -q '^VK_ADD_DRIVER_FILES=/nix/store/.*/share/vulkan/icd.d' <<<"$envs" || fail "image-vulkan: no Vulkan ICD env"
    grep -q '^NVIDIA_DRIVER_CAPABILITIES=.*graphics' <<<"$envs" || fail "image-vulkan: no graphics capability"
    ;;
  cpu)
    # The build closure is a superset of the image's. Crate sources (cargo-src-*, cargo-package-*,
    # e.g. cudarc's) are compile inputs shared by every variant, not libraries in the image.
    gpu=$(jq -r '.[].env.name // empty' "$show" | grep -v '^cargo-' |
      grep -iE 'cuda|cublas|nvrtc|nvidia|rocm|hip|clr-|vulkan|mesa' || true)
    [[ -z "$gpu" ]] || fail "image-cpu closure holds GPU paths: $gpu"
    say "    closure: $(jq length "$show") derivations, no CUDA/ROCm/Vulkan/Mesa package besides crate sources"
    ;;
  esac
}
for v in $(jq -r 'keys[] | select(startswith("image-")) | ltrimstr("image-")' "$work/all-packages.json"); do
  say "  image-$v"
  image_check "$v"
done

if ((failures > 0)); then
  say "eval.sh: $failures failure(s)"
  exit 1
fi
say "eval.sh: all assertions passed"
