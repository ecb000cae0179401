#!/usr/bin/env bash
# Member steps against one package derivation, in build mode (../shared/nix-eval; not in CI:
# tens of minutes). For a workspace that already has a flake calling mkFlake (this repository, or
# one adopted with `deps-layer init`), builds a variant's package once per mode, then edits each
# given file in turn (a comment line appended, so the source changes and the code does not) and
# times the rebuild: with the chain (memberLayers, the default), with one derivation
# (memberLayers = false), and cargo's own incremental rebuild on the host as the floor. For each
# edit: wall seconds, the workspace units cargo compiled, the derivations built, and the external
# units compiled (0 is the goal in every step).
#
#   scripts/member-steps-bench.sh WORKSPACE VARIANT FILE...   (files relative to WORKSPACE)
#
# Each rebuild's wall time is given with its evaluation's share (the commit's files copied into
# the store and every derivation evaluated, which Nix does before it builds anything), timed as a
# separate `nix eval` of the drvPath before the build of that derivation. The workspace is read
# as `nix build` reads a checkout, as a git flake (`git+file:`): its tracked files at the commit,
# each edit committed.
#
# Env: OUT (default /tmp/member-steps-bench), NIX_EVAL (default ../shared/nix-eval, after
# setup-build.sh), OVERRIDES (more nix flags, e.g. the library input of an adopted workspace),
# HOST_FLOOR=0 to leave out cargo on the host, KEEP=1 to edit the copies a run before left in
# OUT (already built) instead of fresh ones, MODES (default "chain single") to run one mode.
set -euo pipefail
checkout=$(cd "$(dirname "$0")/.." && pwd)
harness=$(cd "${NIX_EVAL:-$checkout/../shared/nix-eval}" && pwd)
(($# >= 3)) || {
  echo "usage: $0 WORKSPACE VARIANT FILE..." >&2
  exit 2
}
source_ws=$(cd "$1" && pwd)
variant=$2
shift 2
files=("$@")
out=${OUT:-/tmp/member-steps-bench}
system=x86_64-linux
mkdir -p "$out" "$out/advisory-db/crates"
read -ra overrides <<<"${OVERRIDES:-}"
overrides+=(--override-input advisory-db "path:$out/advisory-db")

plan="$source_ws/nix/deps/plan.json"
package=$(jq -r --arg v "$variant" '.variants[$v].outputs.package' "$plan")
read -ra cargo_args < <(jq -r --arg v "$variant" '.variants[$v].cargoArgs | join(" ")' "$plan")
say() { printf '%s\n' "$*" | tee -a "$out/report.txt"; }
say "== $(basename "$source_ws") $variant: $(jq -r --arg v "$variant" '.variants[$v].memberSteps | map(.name) | join(" -> ")' "$plan")"

now() { date +%s.%N; }
since() { awk -v t0="$1" -v t1="$(now)" -v f="$2" 'BEGIN { printf f, t1 - t0 }'; } # T0 FORMAT
# counts in a build log: workspace units cargo compiled, derivations built, external units
compiled_members() { grep -E '> +(Compiling|Checking) .*\((/build|/tmp/nix-build)' "$1" | grep -vc -- '-deps>' || true; }
built_drvs() { grep -c "^building '/nix/store" "$1" || true; }
external() { grep -o 'layer deps-[a-z0-9_-]*: [0-9]* of' "$1" | awk '{s += $3} END {print s + 0}'; }

copy_ws() { # DIR: a fresh copy of the workspace (a git repository, so the flake sees it)
  rm -rf "$1" && mkdir -p "$1"
  (cd "$source_ws" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) | tar -xf - -C "$1"
  git -C "$1" init -q && git -C "$1" add -A && git -C "$1" -c user.name=b -c user.email=b@localhost commit -qm base
}
edit() { # DIR FILE TAG
  printf '\n// member-steps-bench %s %s\n' "$3" "$(now)" >>"$1/$2"
  git -C "$1" add -A && git -C "$1" -c user.name=b -c user.email=b@localhost commit -qm "$3"
}
evaluated=0
nix_build() { # DIR LOG: evaluates, then builds; sets $evaluated (the evaluation's seconds)
  local t0 drv
  t0=$(now)
  drv=$(bash "$harness/build.sh" "$1" eval --raw "git+file://$1#packages.$system.$package.drvPath" "${overrides[@]}" 2>"$2") || return 1
  evaluated=$(since "$t0" '%.1f')
  bash "$harness/build.sh" "$1" build -L --no-link "$drv^*" "${overrides[@]}" >>"$2" 2>&1
}

read -ra modes <<<"${MODES:-chain single}"
for mode in "${modes[@]}"; do
  ws="$out/ws-$mode"
  if [[ ${KEEP:-0} == 1 && -d "$ws" ]]; then
    say "  $mode: the copy in $ws, as a run before left it"
  else
    copy_ws "$ws"
  fi
  if [[ $mode == single ]] && ! grep -q 'memberLayers = false;' "$ws/flake.nix"; then
    grep -q 'root = ./\.;' "$ws/flake.nix" || {
      echo "no 'root = ./.;' in flake.nix to add memberLayers after" >&2
      exit 1
    }
    sed -i 's|root = ./\.;|root = ./.;\n      memberLayers = false;|' "$ws/flake.nix"
    git -C "$ws" commit -qam single
  fi
  t0=$(now)
  nix_build "$ws" "$out/$mode-base.log" || {
    tail -20 "$out/$mode-base.log"
    exit 1
  }
  say "  $mode: first build $(since "$t0" '%.0f') s"
  for file in "${files[@]}"; do
    edit "$ws" "$file" "$mode"
    log="$out/$mode-$(echo "$file" | tr '/' '_').log"
    t0=$(now)
    nix_build "$ws" "$log" || {
      tail -20 "$log"
      exit 1
    }
    say "  $mode: edit $file: $(since "$t0" '%.1f') s (evaluation $evaluated s), $(compiled_members "$log") workspace units compiled, $(built_drvs "$log") derivations built, $(external "$log") external units compiled"
  done
done

[[ ${HOST_FLOOR:-1} == 1 ]] || exit 0
ws="$out/ws-cargo"
copy_ws "$ws"
(cd "$ws" && cargo build -q --release "${cargo_args[@]}")
for file in "${files[@]}"; do
  edit "$ws" "$file" cargo
  t0=$(now)
  (cd "$ws" && cargo build --release "${cargo_args[@]}" 2>"$out/cargo.log")
  say "  cargo on the host: edit $file: $(since "$t0" '%.1f') s, $(grep -c ' Compiling ' "$out/cargo.log" || true) units compiled"
done
