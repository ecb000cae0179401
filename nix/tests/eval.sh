#!/usr/bin/env bash
# Flake evaluation tests: evaluates every output of one system and asserts, on real drvPaths, that
# the dependency layers are keyed by the external dependency graph only. Builds nothing.
#
#   nix/tests/eval.sh                                        # plain `nix` (real nixpkgs, network)
#   NIX_EVAL_SH=../shared/nix-eval/eval.sh nix/tests/eval.sh # through the offline nix-eval harness
#
# Every mutation happens in a temporary copy of the checkout, never in the checkout itself. The
# layer is regenerated in each copy by the checkout's `deps-layer generate` (built once), so what
# is compared is what a developer would commit. Needs cargo and jq on PATH (in users' CI: `nix develop -c`).
# Environment: EVAL_SYSTEM (default x86_64-linux), EVAL_SOURCE=head (test the last commit instead
# of the working tree), KEEP_EVAL_TMP=1 keeps the copies, EVAL_DEPS_LAYER=<binary> regenerates
# with that deps-layer instead of building the checkout's.
# The variants are read from what the generator writes (nix/deps/plan.json), so the mutations
# below name no crate of this repository.
# shellcheck source=nix/tests/common.sh
. "$(dirname "$0")/common.sh"
require cargo jq

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
  local images
  images=$(jq -c '[.variants[].outputs.image]' "$1/nix/deps/plan.json")
  nixc "$1" eval --json "path:.#$2.$system" --apply \
    "ps: builtins.mapAttrs (_: d: d.drvPath) (removeAttrs ps (builtins.fromJSON ''$images''))"
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
build_deps_layer
regenerate() { "$work/deps-layer" generate --manifest-path "$1/Cargo.toml" >/dev/null; }
update_lock() { # DIR: record member changes in the lock, touching no external entry
  cargo update -q --workspace --offline --manifest-path "$1/Cargo.toml" 2>/dev/null ||
    cargo update -q --workspace --manifest-path "$1/Cargo.toml"
}
members() { sed -n 's/^name = "\(.*\)"/\1/p' "$1"/crates/*/Cargo.toml; }
plan_of() { jq -r "$2" "$1/nix/deps/plan.json"; } # DIR JQ-FILTER: read the generated plan
name_of() { plan_of "$1" ".variants[\"$2\"].outputs.$3"; } # DIR VARIANT KIND: an output's name, as the plan spells it

snapshot() { # DIR TAG: drvPaths of packages and checks into $work/TAG.json
  local t
  t=$(date +%s%N)
  jq -s '.[0] + (.[1] | with_entries(.key |= "check:" + .))' \
    <(drv_paths "$1" packages) <(drv_paths "$1" checks) >"$work/$2.json"
  say "  evaluated $2 in $(ms_since "$t") ms"
}
get() { jq -r --arg k "$2" '.[$k] // "absent"' "$work/$1.json"; }
# every layer output and every variant's name for its layer, from the plan
layers() { plan_of "$base" '[.layers[].output, .variants[].outputs.variantLayer] | unique[]'; }

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
lib_files=("$a"/crates/*/src/lib.rs)
edited=${lib_files[0]}
say "    edited ${edited#"$a"/}"
printf '\n// an edit that changes no dependency\npub fn eval_probe() -> u32 { 42 }\n' >>"$edited"
regenerate "$a"
snapshot "$a" a
expect_layers_unchanged a
[[ "$(get base cpu)" != "$(get a cpu)" ]] || fail "(a) the cpu package did not change after a source edit"

say "== (m) member steps: an edit reaches its member's step and those after it, none before"
# The variant with the longest chain; its first member (what most depend on) and last (the
# package's member); each edit a comment in one of the member's target files.
m_variant=$(plan_of "$base" '.variants | to_entries | max_by(.value.memberSteps | length) | .key')
m_steps=$(plan_of "$base" ".variants[\"$m_variant\"].memberSteps | length")
if ((m_steps < 2)); then
  say "    no variant has two member steps: nothing to check"
else
  m_outputs() { plan_of "$base" ".variants[\"$m_variant\"].memberSteps[].output"; }
  for m_at in 0 $((m_steps - 1)); do
    m_file=$(plan_of "$base" ".variants[\"$m_variant\"].memberSteps[$m_at].targets[0].path")
    m=$(copy "m$m_at")
    printf '\n// an edit of one member\n' >>"$m/$m_file"
    snapshot "$m" "m$m_at"
    index=0
    for output in $(m_outputs); do
      if ((index < m_at)); then
        [[ "$(get base "$output")" == "$(get "m$m_at" "$output")" ]] || fail "(m) an edit of $m_file changed the earlier step $output"
      else
        [[ "$(get base "$output")" != "$(get "m$m_at" "$output")" ]] || fail "(m) an edit of $m_file left the step $output as it was"
      fi
      index=$((index + 1))
    done
    say "    $m_variant: an edit of $m_file changes steps $m_at to $((m_steps - 1)) of 0 to $((m_steps - 1))"
  done
fi

say "== (i) a README edit, with this flake's source = \"cargo\" and with the default source"
grep -q '^ *source = "cargo";$' "$base/flake.nix" || fail "(i) flake.nix does not set source = \"cargo\""
packages_of() { plan_of "$base" '["default"] + [.variants[].outputs.package] | unique[]'; }
i=$(copy i-cargo)
printf '\nan edit no build reads\n' >>"$i/README.md"
snapshot "$i" i-cargo
expect_layers_unchanged i-cargo
for name in $(packages_of base); do
  [[ "$(get base "$name")" == "$(get i-cargo "$name")" ]] || fail "(i) source = \"cargo\": $name changed after a README edit"
done
say "    source = \"cargo\": no package changed"
i=$(copy i-workspace)
sed -i '/^ *source = "cargo";$/d' "$i/flake.nix"
snapshot "$i" i-workspace-before
printf '\nan edit no build reads\n' >>"$i/README.md"
snapshot "$i" i-workspace
expect_layers_unchanged i-workspace
for name in $(packages_of base); do
  [[ "$(get i-workspace-before "$name")" != "$(get i-workspace "$name")" ]] || fail "(i) default source: $name did not change after a README edit"
  say "    default source: $name $(get i-workspace-before "$name") -> $(get i-workspace "$name")"
done

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
probe_dep=$(members "$base" | head -1)
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
sed -i 's|^\(cuda = {.*features = \)\[[^]]*\]|\1[]|' "$f/Cargo.toml"
! diff -q "$base/Cargo.toml" "$f/Cargo.toml" >/dev/null || fail "(f1) could not change cuda's features in Cargo.toml"
regenerate "$f"
snapshot "$f" f1
say "    deps-cuda $(get base deps-cuda) -> $(get f1 deps-cuda)"
[[ "$(get base deps-cuda)" != "$(get f1 deps-cuda)" ]] || fail "(f1) deps-cuda did not change"
[[ "$(get f1 deps-cuda)" == "$(get f1 deps-common)" ]] || fail "(f1) feature-less cuda does not use deps-common"
added=$(plan_of "$base" '.variants.vulkan.features[0]')
say "  (f2) cuda also enables $added (vulkan's first feature)"
f=$(copy f2)
sed -i "s|^\\(cuda = {.*features = \\[\\)|\\1\"$added\", |" "$f/Cargo.toml"
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

say "== (g) a change to crates only one variant's layer compiles"
# Read from the plan and cargo: the first variant layer with crates of its own (in its lock, not
# in the common layer's) that a member depends on directly, and a feature of that crate the
# workspace does not enable yet (one that enables no optional dependency).
g_pick=""
for g_layer in $(plan_of "$base" '(.workspaceChecks.layer // "") as $wide | .layers | keys[] | select(. != "common" and . != $wide)'); do
  g_delta=$(comm -13 \
    <(sed -n 's/^name = "\(.*\)"/\1/p' "$base/nix/deps/$(plan_of "$base" '.layers.common.dir')/Cargo.lock" | sort -u) \
    <(sed -n 's/^name = "\(.*\)"/\1/p' "$base/nix/deps/$(plan_of "$base" ".layers[\"$g_layer\"].dir")/Cargo.lock" | sort -u) |
    jq -R . | jq -sc .)
  g_pick=$(cargo metadata -q --offline --locked --format-version 1 --manifest-path "$base/Cargo.toml" | jq -r --argjson delta "$g_delta" '
    . as $m
    | [ $m.packages[] | select(.id as $id | $m.workspace_members | index($id)) as $member
        | $member.dependencies[] | select(.kind == null and (.name as $n | $delta | index($n)))
        | {member: $member.name, crate: .name} ]
    | map(. as $pick
        | ($m.packages[] | select(.name == $pick.crate)) as $pkg
        | ($m.resolve.nodes[] | select(.id == $pkg.id) | .features) as $on
        | [$pkg.features | to_entries[]
            | select(.key != "default" and (.key as $k | $on | index($k) | not) and (.value | all(startswith("dep:") | not)))
            | .key][0] as $feature
        | select($feature != null)
        | "\($pick.member) \($pick.crate) \($feature)")
    | .[0] // empty')
  [[ -z "$g_pick" ]] || break
done
if [[ -z "$g_pick" ]]; then
  fail "(g) no variant layer has a crate of its own that a member uses with a feature left to enable"
else
  read -r g_member g_crate g_feature <<<"$g_pick"
  g=$(copy g)
  cargo add -q --offline --manifest-path "$g/Cargo.toml" -p "$g_member" "$g_crate" --features "$g_feature"
  diff -q "$base/Cargo.lock" "$g/Cargo.lock" >/dev/null || say "    note: Cargo.lock changed too"
  regenerate "$g"
  say "    $g_member: $g_crate gains the feature $g_feature (of the variants' layers, only $g_layer compiles $g_crate)"
  snapshot "$g" g
  # The layers whose own lock holds the crate: the variant's, and the checks over every member's
  # when the member is one of theirs. Every other layer must stay as it was.
  g_changing=()
  for layer in $(plan_of "$base" '.layers | keys[]'); do
    grep -qx "name = \"$g_crate\"" "$base/nix/deps/$(plan_of "$base" ".layers[\"$layer\"].dir")/Cargo.lock" &&
      g_changing+=("$(get base "$(plan_of "$base" ".layers[\"$layer\"].output")")")
  done
  for name in $(layers); do
    before=$(get base "$name")
    after=$(get g "$name")
    if [[ " ${g_changing[*]} " == *" $before "* ]]; then
      say "    $name $before -> $after"
      [[ "$before" != "$after" ]] || fail "(g) $name did not change"
    else
      say "    $name $after (unchanged)"
      [[ "$before" == "$after" ]] || fail "(g) $name changed: $before -> $after"
    fi
  done
  for dir in $(plan_of "$base" '.layers[] | .dir'); do
    if diff -rq "$base/nix/deps/$dir" "$g/nix/deps/$dir" >/dev/null; then
      say "    nix/deps/$dir unchanged"
    else
      say "    nix/deps/$dir changed"
    fi
  done
  say "    also changed (the workspace source changed, so every package; reported, not asserted): $(jq -r --slurpfile o "$work/g.json" \
    '[to_entries[] | select(.value != $o[0][.key]) | .key] | join(" ")' "$work/base.json")"
fi

# --- a variant without features is cpu ---------------------------------------------------------
say "== a feature-less variant equals cpu"
p=$(copy plain)
sed -i '/^cpu = {/{p;s/^cpu = /plain = /}' "$p/Cargo.toml"
grep -q '^plain = ' "$p/Cargo.toml" || fail "could not add the variant plain to Cargo.toml"
regenerate "$p"
snapshot "$p" plain
while read -r x y; do
  say "    $x $(get plain "$x") = $y $(get plain "$y")"
  [[ "$(get plain "$x")" == "$(get plain "$y")" && "$(get plain "$x")" != absent ]] || fail "$x differs from $y"
done < <(
  for kind in variantLayer layer package; do
    echo "$(name_of "$p" plain "$kind") $(name_of "$p" cpu "$kind")"
  done
  echo "$(name_of "$p" plain variantLayer) $(plan_of "$p" '.layers.common.output')"
  for kind in package clippy nextest; do
    echo "check:$(name_of "$p" plain "checks.$kind") check:$(name_of "$p" cpu "checks.$kind")"
  done
)
common=$(plan_of "$p" '.layers.common.output')
say "    $common vs the checkout (the layer lists one more feature): $(get base "$common") -> $(get plain "$common")"

# --- stacking and the single vendor directory, read from the derivations -------------------------
say "== stacking and vendored sources (derivation show)"
mapfile -t all_drvs < <(jq -r '.[]' "$work/base.json" | sort -u)
nixc "$base" derivation show "${all_drvs[@]}" >"$work/show.json"
env_of() { jq -r --arg d "$1" --arg k "$2" '.[$d].env[$k] // "null"' "$work/show.json"; }
out_of() { jq -r --arg d "$1" '.[$d].outputs.out.path' "$work/show.json"; }
# Each variant's package and checks take the layer the plan names; each stacked layer takes the
# layer its stacksOn names.
layer_out_of() { out_of "$(get base "$(plan_of "$base" ".layers[\"$1\"].output")")"; } # PLAN-LAYER
for layer in $(plan_of "$base" '.layers | keys[]'); do
  stacks_on=$(plan_of "$base" ".layers[\"$layer\"].stacksOn // empty")
  [[ -n "$stacks_on" ]] || continue
  output=$(plan_of "$base" ".layers[\"$layer\"].output")
  [[ "$(get base "$output")" != absent ]] || continue # a layer of no variant on this system
  arts=$(env_of "$(get base "$output")" cargoArtifacts)
  say "  $output cargoArtifacts = $arts"
  [[ "$arts" == "$(layer_out_of "$stacks_on")" ]] || fail "$output does not stack on the layer $stacks_on"
done
for v in $(plan_of "$base" '.variants | keys[]'); do
  [[ "$(get base "$v")" != absent ]] || continue
  layer=$(plan_of "$base" ".variants[\"$v\"].layer")
  layer_out=$(layer_out_of "$layer")
  for consumer in "check:$(name_of "$base" "$v" checks.clippy)" "check:$(name_of "$base" "$v" checks.nextest)"; do
    arts=$(env_of "$(get base "$consumer")" cargoArtifacts)
    say "  $consumer cargoArtifacts = $arts"
    [[ "$arts" == "$layer_out" ]] || fail "$consumer does not take the layer $layer ($layer_out)"
  done
  # The package is the end of its chain of member steps (when it has two or more), each step
  # linking the one before's stored target folder (`member-step --link-from`, not crane's
  # cargoArtifacts) and the first the layer's, unpacked once.
  steps=$(plan_of "$base" ".variants[\"$v\"].memberSteps | length")
  previous=$layer_out
  first=1
  for output in $(plan_of "$base" ".variants[\"$v\"] | if (.memberSteps | length) > 1 then .memberSteps[].output else .outputs.package end"); do
    [[ "$(get base "$output")" != absent ]] || fail "$v: no output $output"
    drv=$(get base "$output")
    arts=$(env_of "$drv" cargoArtifacts)
    if ((steps < 2)); then
      say "  $output cargoArtifacts = $arts"
      [[ "$arts" == "$previous" ]] || fail "$output does not take $previous"
      continue
    fi
    linked=$(printf '%s\n%s\n' "$(env_of "$drv" buildPhase)" "$(env_of "$drv" preBuild)" |
      grep -o -- '--link-from [^ ]*/target' | head -1 | sed 's|--link-from ||; s|/target$||')
    say "  $output links $linked (cargoArtifacts '${arts/null/}')"
    [[ -z "$arts" || "$arts" == null ]] || fail "$output also takes crane's artifacts $arts"
    if ((first)); then
      unpacked=$(nixc "$base" derivation show -r "$drv" |
        jq -r --arg p "$linked" 'to_entries[] | select(.value.outputs.out.path == $p) | .value.env.buildCommand')
      [[ "$unpacked" == *"$previous/target.tar.zst"* ]] || fail "$output does not link the unpacked layer $previous"
      first=0
    else
      [[ "$linked" == "$previous" ]] || fail "$output does not link $previous"
    fi
    previous=$(out_of "$drv")
  done
  [[ "$(get base "$(name_of "$base" "$v" variantLayer)")" == "$(get base "$(name_of "$base" "$v" layer)")" ]] ||
    fail "$(name_of "$base" "$v" variantLayer) is not the layer the plan names for $v"
done
# The checks over every member, when the plan has them, take their own layer.
wide_layer=$(plan_of "$base" '.workspaceChecks.layer // empty')
for kind in $([[ -z "$wide_layer" ]] || echo clippy nextest); do
  consumer=check:$(plan_of "$base" ".workspaceChecks.outputs.$kind")
  arts=$(env_of "$(get base "$consumer")" cargoArtifacts)
  say "  $consumer (every member) cargoArtifacts = $arts"
  [[ "$arts" == "$(layer_out_of "$wide_layer")" ]] || fail "$consumer does not take the layer $wide_layer"
  [[ "$(env_of "$(get base "$consumer")" buildPhase)$(env_of "$(get base "$consumer")" checkPhase)" == *--workspace* ]] ||
    fail "$consumer is not a --workspace run"
done
# The tool's check and app use the tool's own build, not a variant's package.
tool_check_inputs=$(jq -r --arg d "$(get base check:deps-layer-check)" '.[$d].inputDrvs | keys[]' "$work/show.json")
for v in $(plan_of "$base" '.variants | keys[]'); do
  [[ "$(get base "$v")" == absent ]] || ! grep -qx "$(get base "$v")" <<<"$tool_check_inputs" ||
    fail "deps-layer-check builds on the $v package"
done
mapfile -t tool_check_drvs <<<"$tool_check_inputs"
tool_pname=$(nixc "$base" derivation show "${tool_check_drvs[@]}" | jq -r '.[].env.pname // empty' | grep -x deps-layer || true)
say "  deps-layer-check takes the tool's own build: ${tool_pname:-no}"
[[ -n "$tool_pname" ]] || fail "deps-layer-check does not take a build of the deps-layer package"

say "== (h) what the cpu variant builds"
cpu_args=$(plan_of "$base" '.variants.cpu.cargoArgs | join(" ")')
cpu_build=$(env_of "$(get base cpu)" buildPhase)
say "    plan: cargoArgs $cpu_args; selection $(plan_of "$base" '.variants.cpu.selection | join(" ")')"
say "    cpu buildPhase: $(tr '\n' ' ' <<<"$cpu_build")"
[[ "$cpu_build" == *"cargoWithProfile build "*" $cpu_args"* ]] || fail "(h) the cpu package does not build with the plan's cargoArgs"
[[ "$cpu_build" != *--workspace* ]] || fail "(h) the cpu package is a --workspace build"
# shellcheck disable=SC2016 # jq's $s, not the shell's
for pkg in $(plan_of "$base" '.variants.cpu.selection | . as $s | range(0; length) | select($s[.] == "--package") | $s[. + 1]'); do
  [[ "$cpu_build" == *"--package $pkg"* ]] || fail "(h) the cpu package does not select $pkg"
done
# The lock the cpu layer compiles from: GPU crates in it mean cpu's layer key moves with them.
common_dir=$(plan_of "$base" '.layers.common.dir')
gpu_crates=$(grep -o '^name = "\(wgpu\|cudarc\)"' "$base/nix/deps/$common_dir/Cargo.lock" | sed 's/name = //' | paste -sd ' ' || true)
if [[ "$common_dir" == . ]]; then
  say "    not asserted: one nix/deps/Cargo.lock serves every layer (GPU crates in it: ${gpu_crates:-none}); waits for per-layer locks"
else
  say "    cpu layer lock $common_dir/Cargo.lock: GPU crates ${gpu_crates:-none}"
  [[ -z "$gpu_crates" ]] || fail "(h) the cpu layer's lock holds GPU crates: $gpu_crates"
fi
# Sources: each layer vendors its own lock, every other cargo derivation the workspace's; all
# of them at one fixed path (nix/vendor-at-fixed-path.sh), which is what lets them share units.
layer_drvs=$(for name in $(layers); do get base "$name"; done | sort -u)
set_of() { jq -r --arg d "$1" '.[$d].env.cargoVendorSet // empty' "$work/show.json"; }
workspace_sets=$(jq -r --argjson layers "$(jq -R . <<<"$layer_drvs" | jq -sc .)" \
  '[to_entries[] | select((.key as $k | $layers | index($k) | not) and (.value.env.cargoVendorSet // "") != "") | .value.env.cargoVendorSet] | unique | .[]' "$work/show.json")
say "  workspace builds' vendor set: $workspace_sets"
[[ $(wc -l <<<"$workspace_sets") == 1 && -n "$workspace_sets" ]] || fail "the workspace builds do not share one vendor set"
for drv in $layer_drvs; do
  [[ -n "$(set_of "$drv")" && "$(set_of "$drv")" != "$workspace_sets" ]] || fail "layer $drv has no vendor set of its own"
done
say "  layers' vendor sets: $(for drv in $layer_drvs; do set_of "$drv"; done | sort -u | wc -l) for $(wc -l <<<"$layer_drvs") layers"
fixed_hooks=$(jq -r '[.[] | select((.env.cargoVendorSet // "") != "") | (.env.preConfigure // "") | scan("/nix/store/[a-z0-9]{32}-vendor-at-fixed-path.sh") // "none"] | unique | join(" ")' "$work/show.json")
say "  fixed-path hook: $fixed_hooks"
[[ "$fixed_hooks" =~ ^/nix/store/[a-z0-9]{32}-vendor-at-fixed-path.sh$ ]] || fail "the cargo derivations do not all run one fixed-path hook: $fixed_hooks"
crane_vendor=$(jq -r '[.[] | .env.cargoVendorDir // empty | select(. != "")] | length' "$work/show.json")
[[ "$crane_vendor" == 0 ]] || fail "$crane_vendor derivations still use crane's cargoVendorDir (a second source path)"

# --- images: the generated config ------------------------------------------------------------------
say "== image configs (generated)"
image_check() { # VARIANT
  local show base_json created
  show="$work/image-$1.json"
  nixc "$base" derivation show --recursive "path:.#packages.$system.$(name_of "$base" "$1" image)" >"$show"
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
  # The runtime libraries: LD_LIBRARY_PATH's store entries, as package names (hash and /lib cut).
  ld_path=$(sed -n 's/^LD_LIBRARY_PATH=//p' <<<"$envs")
  libs=$(tr : '\n' <<<"$ld_path" | sed -n 's|^/nix/store/[a-z0-9]\{32\}-\(.*\)/lib$|\1|p' | paste -sd ' ')
  host_dirs=$(tr : '\n' <<<"$ld_path" | sed -e '\|^/nix/store/|d' -e '/^$/d' | paste -sd :)
  say "    runtime libraries: ${libs:-none}; host driver dirs: ${host_dirs:-none}"
  expect_libs() { # REGEX... : one store entry per regex, in this order, and no other
    local -a got
    read -ra got <<<"$libs"
    [[ ${#got[@]} == "$#" ]] || fail "image-$v: ${#got[@]} runtime libraries ($libs), expected $# ($*)"
    local i=0 re
    for re in "$@"; do
      [[ "${got[$i]:-}" =~ $re ]] || fail "image-$v: runtime library $((i + 1)) is '${got[$i]:-}', expected /$re/"
      i=$((i + 1))
    done
  }
  local v=$1
  case $1 in
  cuda)
    grep -qx 'NVIDIA_VISIBLE_DEVICES=all' <<<"$envs" || fail "image-cuda: NVIDIA_VISIBLE_DEVICES"
    grep -q '^NVIDIA_DRIVER_CAPABILITIES=.*compute' <<<"$envs" || fail "image-cuda: NVIDIA_DRIVER_CAPABILITIES"
    expect_libs '(^|-)cuda_nvrtc-.*-lib$'
    [[ "$host_dirs" == /usr/lib/x86_64-linux-gnu:/usr/lib64:/usr/lib ]] ||
      fail "image-cuda: host driver dirs are '$host_dirs'"
    ;;
  vulkan)
    grep -q '^NVIDIA_DRIVER_CAPABILITIES=.*graphics' <<<"$envs" || fail "image-vulkan: no graphics capability"
    # nixpkgs' loader searches /run/opengl-driver/share instead of /etc, one of the two places the
    # NVIDIA toolkit puts its ICD: /etc must be added, before Mesa's drivers. The other,
    # /usr/share, the loader searches by itself only while XDG_DATA_DIRS is unset.
    vk=$(sed -n 's/^VK_ADD_DRIVER_FILES=//p' <<<"$envs")
    # shellcheck disable=SC2001 # a regex, not a glob
    say "    driver search: $(sed 's|/nix/store/[a-z0-9]*-|/nix/store/…-|g' <<<"$vk")"
    [[ "$vk" =~ ^/etc/vulkan/icd.d:/nix/store/[a-z0-9]{32}-[^:]*mesa[^:]*/share/vulkan/icd.d$ ]] ||
      fail "image-vulkan: VK_ADD_DRIVER_FILES is '$vk'"
    grep -q '^XDG_DATA_DIRS=' <<<"$envs" && fail "image-vulkan: XDG_DATA_DIRS set, the loader's /usr/share fallback is lost"
    grep -q '^VK_DRIVER_FILES=\|^VK_ICD_FILENAMES=' <<<"$envs" && fail "image-vulkan: an ICD override would hide the host's driver"
    # libGLX_nvidia, NVIDIA's Vulkan driver, links libX11 and libXext, which the toolkit does not mount
    expect_libs 'vulkan-loader' '^libX11-' '^libXext-'
    [[ "$host_dirs" == /usr/lib/x86_64-linux-gnu:/usr/lib64:/usr/lib ]] ||
      fail "image-vulkan: host driver dirs are '$host_dirs'"
    ;;
  rocm)
    # Only clr's HIP libraries, copied out of clr so that hipcc and the ROCm LLVM toolchain its
    # wrappers name stay out; the copy may not refer to clr, or the build fails.
    expect_libs '^clr-libs-'
    [[ -z "$host_dirs" ]] || fail "image-rocm: host driver dirs '$host_dirs' (ROCm ships its user-space runtime)"
    subset=$(jq -c '[.[] | select(.env.name // "" | startswith("clr-libs-"))][0].env' "$show")
    clr_out=$(jq -r '[.[] | select((.env.pname // "") == "clr" or ((.env.name // "") | test("(^|-)clr-[0-9]")))][0].outputs.out.path // empty' "$show")
    say "    clr-libs keeps: $(jq -r '.buildCommand' <<<"$subset" | grep -o "'lib[^']*'" | paste -sd ' ')"
    [[ -n "$clr_out" && "$(jq -r .disallowedReferences <<<"$subset")" == *"$clr_out"* ]] ||
      fail "image-rocm: clr-libs does not forbid references to clr ($clr_out)"
    ;;
  cpu)
    expect_libs
    [[ -z "$host_dirs" ]] || fail "image-cpu: host driver dirs '$host_dirs'"
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

finish
