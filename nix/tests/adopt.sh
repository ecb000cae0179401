#!/usr/bin/env bash
# Adoption by a workspace shaped unlike this one (crates/deps-layer/tests/fixtures/adopt: members
# at the root, no toolchain file, a build script reading schema.sql, an optional dependency no
# variant enables, a variant `gpu` whose cudarc build script runs `nvcc --version`):
#   1. `deps-layer init` writes flake.nix, keeps the variants table, generates nix/deps;
#   2. the workspace configures its gpu variant: a stand-in `nvcc` from an overlay of its own as a
#      build input of that variant only;
#   3. nix/lib reads the generated plan with those settings (nix-instantiate, no nixpkgs: runs in CI);
#   4. with the nix-eval harness (or real Nix): every output evaluates, the stand-in reaches
#      deps-gpu, the gpu package and its checks and nothing else, the source holds schema.sql.
# In build mode the gpu layer really runs the stand-in (README of nix/: "Adopting it").
#
#   nix/tests/adopt.sh                                          # step 4 with plain `nix`
#   NIX_EVAL_SH=../shared/nix-eval/eval.sh nix/tests/adopt.sh   # step 4 through the harness
#   ADOPT_EVAL=0 nix/tests/adopt.sh                             # steps 1-3 only (CI without Nix store)
# Needs cargo, jq and nix-instantiate; EVAL_DEPS_LAYER=<binary>; KEEP_EVAL_TMP=1 keeps the copy.
# shellcheck source=nix/tests/common.sh
. "$(dirname "$0")/common.sh"
require cargo jq nix-instantiate

build_deps_layer
deps_layer="$work/deps-layer"

say "== 1. deps-layer init"
ws="$work/adopt"
cp -r "$checkout/crates/deps-layer/tests/fixtures/adopt" "$ws"
cargo fetch -q --locked --manifest-path "$ws/Cargo.toml"
manifest_before=$(cat "$ws/Cargo.toml")
"$deps_layer" init --manifest-path "$ws/Cargo.toml" --library "path:$work/library" --offline >"$work/init.log" 2>&1 ||
  fail "init exited $?: $(cat "$work/init.log")"
sed 's/^/    /' "$work/init.log"
[[ -f "$ws/flake.nix" && -f "$ws/nix/deps/plan.json" ]] || fail "init wrote no flake.nix or nix/deps/plan.json"
expect "the existing variants table is kept, Cargo.toml untouched" "$(cat "$ws/Cargo.toml")" "$manifest_before"
expect "plan variants" "$(jq -r '.variants | keys | join(" ")' "$ws/nix/deps/plan.json")" "cpu gpu"
expect "the gpu layer's lock has cudarc" "$(grep -c '^name = "cudarc"' "$ws/nix/deps/layers/gpu/Cargo.lock")" 1
expect "the common layer's lock has no cudarc" "$(grep -c '^name = "cudarc"' "$ws/nix/deps/layers/common/Cargo.lock" || true)" 0
expect "the optional itoa no variant enables is in no layer's lock" \
  "$(cat "$ws"/nix/deps/layers/*/Cargo.lock | grep -c '^name = "itoa"' || true)" 0
"$deps_layer" check --manifest-path "$ws/Cargo.toml" --offline >/dev/null || fail "deps-layer check fails right after init"

say "== 2. the gpu variant's build tool"
mkdir -p "$ws/nix"
# A stand-in for CUDA's nvcc: cudarc's build script only asks for its version, and reads it from
# the fourth line, as nvcc prints it.
cat >"$ws/nix/stand-in-nvcc.nix" <<'EOF'
final: _prev: {
  stand-in-nvcc = final.writeShellScriptBin "nvcc" ''
    echo "nvcc: NVIDIA (R) Cuda compiler driver"
    echo "Copyright (c) 2005-2025 NVIDIA Corporation"
    echo "Built on Fri_Feb_21_20:23:50_PST_2025"
    echo "Cuda compilation tools, release 12.8, V12.8.93"
    echo "Build cuda_12.8.r12.8/compiler.35583870_0"
  '';
}
EOF
# The CUDA recipe (nix/README.md): the GPU's capabilities and the compiler; CUDA_COMPUTE_CAP
# follows from the capabilities.
cat >"$ws/nix/variants.nix" <<'EOF'
{
  gpu = {
    accelerator = "nvidia";
    unfree = "cuda";
    nixpkgsConfig = {
      cudaSupport = true;
      cudaCapabilities = ["8.9"];
    };
    nativeBuildInputs = [["stand-in-nvcc"]];
  };
}
EOF
grep -q '# variants = import ./nix/variants.nix;' "$ws/flake.nix" || fail "flake.nix has no variants hint"
sed -i 's|# variants = import ./nix/variants.nix;|variants = import ./nix/variants.nix;\n      overlays = [(import ./nix/stand-in-nvcc.nix)];|' "$ws/flake.nix"
nix_instantiate --parse "$ws/flake.nix" >/dev/null || fail "the edited flake.nix does not parse"

say "== 3. nix/lib reads the plan"
# shellcheck disable=SC2016 # Nix's ${...}
plan_json=$(nix_instantiate --eval --strict --json -E "
    let
      lib = import $checkout/nix/lib;
      plan = lib.variantRecords { layerDir = $ws/nix/deps; nixVariants = import $ws/nix/variants.nix; };
      v = plan.variants.gpu;
    in {
      variants = builtins.attrNames plan.variants;
      cpuLayer = plan.variants.cpu.layer;
      inherit (v) layer pname mainProgram cargoArgs build;
      layerSrc = toString plan.layers.\${v.layer}.src;
      systems = plan.systems;
    }")
say "    $plan_json"
expect "gpu builds on its own layer" "$(jq -r .layer <<<"$plan_json")" gpu
expect "cpu builds on the common layer" "$(jq -r .cpuLayer <<<"$plan_json")" common
expect "the layer's source is its slice" "$(jq -r .layerSrc <<<"$plan_json")" "$ws/nix/deps/layers/gpu"
expect "the program" "$(jq -r .mainProgram <<<"$plan_json")" adopt
expect "cargo args" "$(jq -r '.cargoArgs | join(" ")' <<<"$plan_json")" "--locked --workspace --features adopt/gpu"
expect "the build tool" "$(jq -c .build.nativeBuildInputs <<<"$plan_json")" '[["stand-in-nvcc"]]'
expect "CUDA_COMPUTE_CAP follows from cudaCapabilities" "$(jq -c .build.env <<<"$plan_json")" '{"CUDA_COMPUTE_CAP":"89"}'

if [[ "${ADOPT_EVAL:-1}" == 0 ]]; then
  say "== 4. skipped (ADOPT_EVAL=0)"
else
  say "== 4. evaluation"
  # $library, nixc, show, env_of, inputs_of, names_of, image_config, src_files
  . "$checkout/nix/tests/library-input.sh"
  # init's flake has an advisory-db input of its own (the library's follows it)
  [[ -z "${NIX_EVAL_SH:-}" ]] || extra+=(--override-input advisory-db "path:$work/advisory-db")
  for set in packages checks devShells; do
    nixc "$ws" eval --json "path:.#$set.$system" --apply 'builtins.mapAttrs (_: d: d.drvPath)' >"$work/$set.json" ||
      fail "$set.$system does not evaluate"
    say "    $set: $(jq -r 'keys | join(" ")' "$work/$set.json")"
  done
  for attr in packages.$system.deps-gpu packages.$system.gpu checks.$system.nextest-gpu checks.$system.clippy-gpu; do
    expect "$attr has the stand-in nvcc" "$(inputs_of "$ws" "$attr" '^nvcc$')" nvcc
    expect "$attr has CUDA_COMPUTE_CAP" "$(env_of "$ws" "$attr" CUDA_COMPUTE_CAP)" 89
  done
  expect "deps-common has no stand-in nvcc" "$(inputs_of "$ws" "packages.$system.deps-common" '^nvcc$')" ""
  files=$(src_files "$ws" "packages.$system.gpu")
  say "    the gpu package's source: $files"
  [[ " $files " == *" tool/schema.sql "* ]] || fail "the source lacks tool/schema.sql, which tool/build.rs reads"
  [[ " $files " != *" nix/deps/"* ]] || fail "the package source holds the layer folder"
fi

finish
