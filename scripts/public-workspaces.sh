#!/usr/bin/env bash
# Adoption proof on public workspaces nobody here wrote (not in CI: it builds them, tens of
# minutes): each one at a pinned commit gets `deps-layer init`, every output is evaluated, and
# deps-common, the default package and the image are built with the offline nix-eval harness
# (../shared/nix-eval, build mode), then the binary and the image run.
#
#   scripts/public-workspaces.sh [NAME...]     (default: bat watchexec; results in $OUT)
#
# Sources: git repositories at the commits below, from $MIRRORS/<owner>+<repo>/repo (bare
# clones, e.g. `git clone --bare https://github.com/sharkdp/bat $MIRRORS/sharkdp+bat/repo`).
# Env: OUT (default /tmp/public-workspaces), MIRRORS (default /work/.mirror), NIX_EVAL (default
# ../shared/nix-eval), DEPS_LAYER (default: this checkout's build), BUILD=0 evaluates only.
set -euo pipefail

checkout=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-/tmp/public-workspaces}
mirrors=${MIRRORS:-/work/.mirror}
harness=$(cd "${NIX_EVAL:-$checkout/../shared/nix-eval}" && pwd)
system=x86_64-linux
mkdir -p "$out"

# name -> "owner+repo commit"
declare -A source=(
  [bat]="sharkdp+bat 2ba8db9c14e5794572f5ea338c2b90404c9769cb"
  [watchexec]="watchexec+watchexec 8774f38f7494a11bd08458b8768294239363dedb"
  [lambdaworks]="lambdaclass+lambdaworks 21281c3f1cdb6a7f43e7678d8b12c14c1f7eff0e"
  [fltr]="moritztng+fltr fdb9cbfa56156da4daf18c1a0e25491065d78ddf"
)
# The variants table each root Cargo.toml gets.
declare -A table=(
  # lessopen pulls 4 more crates (execute and its macros)
  [bat]='cpu = { packages = ["bat"] }
lessopen = { packages = ["bat"], features = ["bat/lessopen"] }'
  # dev-console (38 more crates) is left out: console-subscriber asserts at startup unless every
  # crate was compiled with --cfg tokio_unstable, so `watchexec --version` would panic.
  [watchexec]='cpu = { packages = ["watchexec-cli"] }'
  # its crypto crate's cuda feature compiles a Merkle-tree kernel with nvcc at build time
  [lambdaworks]='cpu = { packages = ["merkle-tree-cli"] }
cuda = { packages = ["merkle-tree-cli"], features = ["lambdaworks-crypto/cuda"] }'
  # one package; its cuda feature compiles src/kernels.cu with cc's CUDA mode (nvcc) and links
  # cuBLAS statically
  [fltr]='cpu = { features = [] }
cuda = { features = ["fltr/cuda"] }'
)
# What only Nix knows about a variant (nix/variants.nix), for workspaces with an accelerator
# variant: the CUDA recipe of nix/README.md, nothing else. EXTRA: the variant's own lines.
cuda_recipe() { # EXTRA
  printf '{\n  cuda = {\n    accelerator = "nvidia";\n    unfree = "cuda";\n'
  printf '    nixpkgsConfig = {\n      cudaSupport = true;\n      cudaCapabilities = ["8.6" "8.9"];\n    };\n'
  printf '    nativeBuildInputs = [["cudaPackages" "cuda_nvcc"]];\n%s    driverRunpath = true;\n  };\n}\n' "$1"
}
declare -A variants_nix=(
  [lambdaworks]=$(cuda_recipe "")
  # cc links cudart statically, the build script cublas_static and cublasLt_static
  [fltr]=$(cuda_recipe '    buildInputs = [["cudaPackages" "cuda_cudart" "static"] ["cudaPackages" "libcublas" "static"]];
')
)
# The proof run of the binary (first word: the program in result/bin).
declare -A run=(
  [bat]='bat --version'
  [watchexec]='watchexec --version'
  [lambdaworks]='merkle-tree-cli --help'
  [fltr]='fltr --help'
)

if [[ -n "${DEPS_LAYER:-}" ]]; then
  deps_layer=$DEPS_LAYER
else
  cargo build -q --locked --manifest-path "$checkout/Cargo.toml" -p deps-layer
  deps_layer="$checkout/target/debug/deps-layer"
fi
# The library (this checkout's files) as each workspace's `deps-layer` input, with the harness's
# flags for its own inputs: $library and $extra, as the nix tests get them.
say() { printf '%s\n' "$*"; }
work=$out
# Building, the library's own inputs must be build mode's too: the packages run the library's
# build of the deps-layer tool (their layer report).
if [[ "${BUILD:-1}" == 1 ]]; then
  export NIX_EVAL_SH="$harness/build.sh"
else
  export NIX_EVAL_SH="$harness/eval.sh"
fi
rm -rf "$out/library"
# shellcheck source=nix/tests/library-input.sh
. "$checkout/nix/tests/library-input.sh"
# init's flake has an advisory-db input of its own (the library's follows it)
overrides=("${extra[@]}" --override-input advisory-db "path:$out/advisory-db")

report() { printf '%s\n' "$*" | tee -a "$out/report.txt"; }
timed() { # LOG CMD...: runs, logs, prints seconds and the exit code
  local log=$1 t0 rc=0
  shift
  t0=$(date +%s)
  "$@" >"$log" 2>&1 || rc=$?
  echo "$(($(date +%s) - t0)) s, exit $rc"
  return $rc
}
# external crates cargo compiled in a build log (not the workspace's: those have a path)
external_compiled() { grep -E '> +(Compiling|Checking) ' "$1" | grep -vc '(/' || true; }

names=("$@")
((${#names[@]})) || names=(bat watchexec)
for name in "${names[@]}"; do
  [[ -n "${source[$name]:-}" ]] || {
    echo "unknown workspace $name (known: ${!source[*]})" >&2
    exit 2
  }
  read -r mirror commit <<<"${source[$name]}"
  ws="$out/$name"
  report "== $name: github.com/${mirror/+//} @ $commit"
  rm -rf "$ws" && mkdir -p "$ws"
  git -C "$mirrors/$mirror/repo" archive "$commit" | tar -x -C "$ws"
  cd "$ws"
  # An upstream flake of its own is replaced by init's (init refuses to overwrite it otherwise).
  rm -f flake.nix flake.lock .envrc
  printf '\n[workspace.metadata.variants]\n%s\n' "${table[$name]}" >>Cargo.toml
  # A library workspace commits no lock: what its user runs first.
  [[ -f Cargo.lock ]] || { cargo generate-lockfile -q && report "  no Cargo.lock upstream: cargo generate-lockfile"; }
  cargo fetch -q --locked
  report "  lock: $(grep -c '^name = ' Cargo.lock) packages"
  "$deps_layer" init --library "path:$library" --offline >"$out/$name-init.log" 2>&1
  report "  init: $(grep -c . "$out/$name-init.log") lines: $(head -2 "$out/$name-init.log" | tr '\n' ' ')"
  if [[ -n "${variants_nix[$name]:-}" ]]; then
    mkdir -p nix
    printf '%s\n' "${variants_nix[$name]}" >nix/variants.nix
    sed -i 's|# variants = import ./nix/variants.nix;|variants = import ./nix/variants.nix;|' flake.nix
    report "  nix/variants.nix: $(grep -c . nix/variants.nix) lines, the CUDA recipe"
    if [[ "${BUILD:-1}" == 1 ]]; then
      # The harness's cudaPackages are stubs that cannot build: a stand-in nvcc that writes an
      # empty file where it is asked to, and CUDA libraries with no files (the harness's edit,
      # not the user's).
      cat >nix/stand-in-nvcc.nix <<'EOF'
final: prev: let
  # a CUDA library with no files, every output the recipe may name
  empty = name: let
    package = final.runCommand "stand-in-${name}" {} "mkdir -p $out/lib";
  in
    package // {lib = package; static = package; dev = package;};
in {
  cudaPackages =
    prev.cudaPackages
    // {
      cuda_cudart = empty "cuda_cudart";
      libcublas = empty "libcublas";
      cuda_nvcc = final.writeShellScriptBin "nvcc" ''
        out=
        while [ $# -gt 0 ]; do
          case $1 in -o) out=$2; shift ;; --version) echo "Cuda compilation tools, release 12.8, V12.8.93"; exit 0 ;; esac
          shift
        done
        [ -n "$out" ] && echo "// stand-in nvcc: no kernel" >"$out"
      '';
    };
}
EOF
      sed -i 's|      variants = import ./nix/variants.nix;|      variants = import ./nix/variants.nix;\n      overlays = [(import ./nix/stand-in-nvcc.nix)];|' flake.nix
    fi
  fi
  git init -q && git add -A && git -c user.name=proof -c user.email=proof@localhost commit -qm base
  report "  layers: $(jq -r '.layers | to_entries | map("\(.key) (\(.value.dir))") | join(", ")' nix/deps/plan.json)"

  for set in packages checks devShells apps; do
    if bash "$NIX_EVAL_SH" "$ws" eval --json "path:.#$set.$system" --apply 'builtins.mapAttrs (_: d: d.drvPath or d.program)' "${overrides[@]}" \
      >"$out/$name-$set.json" 2>"$out/$name-$set.err"; then
      report "  eval $set: $(jq -r 'keys | join(" ")' "$out/$name-$set.json")"
    else
      report "  eval $set FAILED: $(grep -m1 error "$out/$name-$set.err")"
    fi
  done
  [[ "${BUILD:-1}" == 1 ]] || continue

  build() { bash "$harness/build.sh" "$ws" build -L "path:.#packages.$system.$1" "${overrides[@]}" --out-link "$out/$name-$1"; }
  for attr in deps-common default $(jq -r 'keys[] | select(startswith("deps-") and . != "deps-common" and . != "deps-cpu")' "$out/$name-packages.json") \
    $(jq -r 'keys[] | select(. != "default" and . != "cpu" and (startswith("deps-") or startswith("image-") | not))' "$out/$name-packages.json") image-cpu; do
    result=$(timed "$out/$name-$attr.log" build "$attr" || true)
    report "  build $attr: $result; external crates compiled: $(external_compiled "$out/$name-$attr.log")"
  done
  report "  deps-common: $(du -shL "$out/$name-deps-common" | cut -f1)"
  read -r program args <<<"${run[$name]}"
  # shellcheck disable=SC2086 # the arguments are words
  report "  run: $("$out/$name-default/bin/$program" $args 2>&1 | head -1)"
  "$out/$name-image-cpu" >"$out/$name-image.tar"
  report "  image: $(du -h "$out/$name-image.tar" | cut -f1)"
  # shellcheck disable=SC2086 # the arguments are words
  report "  image run: $(bash "$harness/run-image.sh" "$out/$name-image.tar" $args 2>&1 | tail -1)"
done
