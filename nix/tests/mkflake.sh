#!/usr/bin/env bash
# lib.mkFlake on workspaces other than this one: a fresh one-crate workspace calls this checkout's
# flake as its `deps-layer` input, and the evaluated derivations must carry what the arguments
# say. Builds nothing.
#
#   nix/tests/mkflake.sh                                        # plain `nix` (real nixpkgs, network)
#   NIX_EVAL_SH=../shared/nix-eval/eval.sh nix/tests/mkflake.sh # through the offline nix-eval harness
#
# (1) nothing configured, no variants table: one `default` variant, the toolchain of the
#     workspace's rust-version, a generic image, cargo-deny without a licence list;
# (2) every argument: a layer folder of its own, defaults and per-variant build and image
#     settings, extra source files, a rust-toolchain file;
# (3) build settings on a variant of the shared common layer are refused with the fix.
# (4) extraSourceFiles with the default source (every file already) is refused with the fix.
# Needs cargo and jq; EVAL_DEPS_LAYER=<binary> as in eval.sh; KEEP_EVAL_TMP=1 keeps the copies.
# shellcheck source=nix/tests/common.sh
. "$(dirname "$0")/common.sh"
require cargo jq

# $library, nixc, show, env_of, inputs_of, names_of, image_config, src_files
. "$checkout/nix/tests/library-input.sh"

# --- the workspaces ---------------------------------------------------------------------------
build_deps_layer
workspace() { # DIR: a package `hello` using one external crate
  mkdir -p "$1/src"
  cat >"$1/Cargo.toml" <<'EOF'
[package]
name = "hello"
version = "0.3.0"
edition = "2021"
rust-version = "1.80"

[features]
gpu = []

[dependencies]
itoa = "1"
EOF
  echo 'fn main() { println!("{}", itoa::Buffer::new().format(42)); }' >"$1/src/main.rs"
  cargo generate-lockfile -q --offline --manifest-path "$1/Cargo.toml" 2>/dev/null ||
    cargo generate-lockfile -q --manifest-path "$1/Cargo.toml"
}
say "== (1) nothing configured"
one="$work/one"
workspace "$one"
"$work/deps-layer" generate --manifest-path "$one/Cargo.toml" >/dev/null
flake "$one" ""
expect "packages" "$(nixc "$one" eval --json "path:.#packages.$system" --apply builtins.attrNames | jq -r 'join(" ")')" \
  "default deps-common deps-default image-default"
expect "devShells" "$(nixc "$one" eval --json "path:.#devShells.$system" --apply builtins.attrNames | jq -r 'join(" ")')" "default"
expect "checks" "$(nixc "$one" eval --json "path:.#checks.$system" --apply builtins.attrNames | jq -r 'join(" ")')" \
  "audit clippy-default deny deps-layer-check fmt layer-default nextest-default package-default"
expect "the version is the root package's" "$(env_of "$one" "packages.$system.default" version)" "0.3.0"
expect "the toolchain is rust-version's release, with clippy and rustfmt" \
  "$(inputs_of "$one" "packages.$system.default" '^rust-')" "rust-default-1.80.0"
echo "notes no build reads" >"$one/NOTES.txt"
expect "the source is every file of the workspace, without nix/deps" "$(src_files "$one" "packages.$system.default")" \
  "Cargo.lock Cargo.toml NOTES.txt flake.nix src/main.rs"
expect "no failure hint (nothing is left out)" "$(env_of "$one" "packages.$system.default" failureHook)" "unset"
expect "the package reports whether it hit deps-common, and only warns" \
  "$(env_of "$one" "packages.$system.default" postInstall | grep -o 'layer-report --layer [^ ]*\|--on-miss [a-z]*' | paste -sd ' ')" \
  "layer-report --layer deps-common --on-miss warn"
for check in clippy-default:postBuild nextest-default:postCheck; do
  expect "checks.${check%%:*} reports too, and fails on a miss" \
    "$(env_of "$one" "checks.$system.${check%%:*}" "${check#*:}" | grep -o 'layer-report --layer [^ ]*\|--on-miss [a-z]*' | paste -sd ' ')" \
    "layer-report --layer deps-common --on-miss error"
done
expect "deny runs without a licence list" "$(env_of "$one" "checks.$system.deny" cargoDenyChecks)" "bans sources"
expect "the layer check looks in nix/deps" \
  "$(env_of "$one" "checks.$system.deps-layer-check" buildPhase | grep -o 'deps-layer check.*')" "deps-layer check"
config=$(image_config "$one" "packages.$system.image-default")
expect "the image runs the program as user 1000, nothing else set" \
  "$(jq -c '{User, Cmd, ExposedPorts, Volumes, WorkingDir, entry: (.Entrypoint | length), program: (.Entrypoint[0] | sub(".*/"; ""))}' <<<"$config")" \
  '{"User":"1000:1000","Cmd":null,"ExposedPorts":null,"Volumes":null,"WorkingDir":null,"entry":1,"program":"hello"}'

say "== (2) every argument"
two="$work/two"
workspace "$two"
cat >>"$two/Cargo.toml" <<'EOF'

[workspace]

[workspace.metadata.variants]
cpu = { features = [] }
gpu = { features = ["hello/gpu"] }
EOF
echo "create table t (x int);" >"$two/schema.sql"
mkdir -p "$two/assets" "$two/docs"
echo weights >"$two/assets/model.bin"
echo notes >"$two/docs/notes.txt"
"$work/deps-layer" generate --manifest-path "$two/Cargo.toml" --out "$two/build/layer" >/dev/null
# after generating: rustup would run cargo with it
printf '[toolchain]\nchannel = "1.79.0"\n' >"$two/rust-toolchain.toml"
flake "$two" '
      layerDir = ./build/layer;
      source = "cargo";
      extraSourceFiles = [./assets/model.bin];
      layerMiss = "error";
      defaults = {
        nativeBuildInputs = [["pkg-config"]];
        env.SHARED = "yes";
        image = {
          ports = [8080];
          volumes = ["/var/lib/hello"];
        };
      };
      variants.gpu = {
        buildInputs = [["sqlite"]];
        env.GPU = "1";
        envPaths.SQLITE_ROOT = ["sqlite"];
        image = {
          cmd = ["--gpu"];
          ports = [9000 "9001/udp"];
          user = "gpu";
        };
      };'
for attr in packages.deps-common packages.cpu checks.nextest-cpu; do
  expect "$attr: the defaults' settings only" \
    "$(names_of "$two" "${attr%%.*}.$system.${attr#*.}" '^(pkg-config|sqlite)') $(env_of "$two" "${attr%%.*}.$system.${attr#*.}" SHARED) $(env_of "$two" "${attr%%.*}.$system.${attr#*.}" GPU)" \
    "pkg-config-wrapper yes unset"
done
for attr in packages.deps-gpu packages.gpu checks.nextest-gpu checks.clippy-gpu; do
  expect "$attr: the defaults' and gpu's settings" \
    "$(names_of "$two" "${attr%%.*}.$system.${attr#*.}" '^(pkg-config|sqlite)') $(env_of "$two" "${attr%%.*}.$system.${attr#*.}" SHARED) $(env_of "$two" "${attr%%.*}.$system.${attr#*.}" GPU)" \
    "pkg-config-wrapper sqlite yes 1"
done
expect "devShells.gpu: the same inputs and env" \
  "$(names_of "$two" "devShells.$system.gpu" '^(pkg-config|sqlite)') $(env_of "$two" "devShells.$system.gpu" GPU)" \
  "pkg-config-wrapper sqlite 1"
expect "layerMiss = error: the gpu package fails on a miss of deps-gpu" \
  "$(env_of "$two" "packages.$system.gpu" postInstall | grep -o 'layer-report --layer [^ ]*\|--on-miss [a-z]*' | paste -sd ' ')" \
  "layer-report --layer deps-gpu --on-miss error"
expect "envPaths: the package's store path" \
  "$(env_of "$two" "packages.$system.gpu" SQLITE_ROOT | sed -n 's|^/nix/store/[a-z0-9]\{32\}-\(sqlite\)-.*|\1|p')" "sqlite"
expect "the toolchain is rust-toolchain.toml's" "$(inputs_of "$two" "packages.$system.gpu" '^rust-')" "rust-default-1.79.0"
expect "source = cargo: the extra file and .sql, not the layer folder or docs" "$(src_files "$two" "packages.$system.gpu")" \
  "Cargo.lock Cargo.toml assets/model.bin rust-toolchain.toml schema.sql src/main.rs"
expect "source = cargo: the failure hint names what is left out" \
  "$(env_of "$two" "packages.$system.gpu" failureHook | grep -o 'nix eval --json .#packages[^ "]*')" \
  "nix eval --json .#packages.$system.default.sourceLeftOut"
expect "the layer check is told the layer folder" \
  "$(env_of "$two" "checks.$system.deps-layer-check" buildPhase | grep -o 'deps-layer check.*')" "deps-layer check --out build/layer"
config=$(image_config "$two" "packages.$system.image-gpu")
expect "image-gpu: gpu's settings over the defaults'" \
  "$(jq -c '{Cmd, ExposedPorts, Volumes, WorkingDir}' <<<"$config")" \
  '{"Cmd":["--gpu"],"ExposedPorts":{"9000/tcp":{},"9001/udp":{}},"Volumes":{"/var/lib/hello":{}},"WorkingDir":"/var/lib/hello"}'
config=$(image_config "$two" "packages.$system.image-cpu")
expect "image-cpu: the defaults'" "$(jq -c '{Cmd, ExposedPorts, Volumes}' <<<"$config")" \
  '{"Cmd":null,"ExposedPorts":{"8080/tcp":{}},"Volumes":{"/var/lib/hello":{}}}'
passwd=$(nixc "$two" derivation show --recursive "path:.#packages.$system.image-gpu" |
  jq -r '[.[] | .env.extraCommands // empty][0]' | grep -m1 '^gpu:')
expect "image-gpu's user, its home the first volume" "$passwd" "gpu:x:1000:1000:gpu:/var/lib/hello:/noshell"

say "== (3) build settings on a variant of the common layer"
three="$work/three"
cp -a "$two" "$three"
flake "$three" '
      layerDir = ./build/layer;
      variants.cpu.buildInputs = [["sqlite"]];'
if err=$(nixc "$three" eval --raw "path:.#packages.$system.cpu.drvPath" 2>&1); then
  fail "(3) evaluated: $err"
else
  # shellcheck disable=SC2016 # backquotes of the message, not a command
  if grep -q 'variants.cpu sets \["buildInputs"\], but it builds on the `common` layer.*put them in `defaults`' <<<"$err"; then
    say "    ok: refused, naming the setting and the fix"
  else
    fail "(3) another error: $(grep error <<<"$err" | head -3)"
  fi
fi

say "== (4) extraSourceFiles without source = \"cargo\""
four="$work/four"
cp -a "$two" "$four"
flake "$four" '
      layerDir = ./build/layer;
      extraSourceFiles = [./assets/model.bin];'
if err=$(nixc "$four" eval --raw "path:.#packages.$system.cpu.drvPath" 2>&1); then
  fail "(4) evaluated: $err"
elif grep -q 'extraSourceFiles lists files for source = "cargo".*drop extraSourceFiles, or set source = "cargo"' <<<"$err"; then
  say "    ok: refused, naming both fixes"
else
  fail "(4) another error: $(grep error <<<"$err" | head -3)"
fi

finish
