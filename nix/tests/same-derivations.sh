#!/usr/bin/env bash
# Whether a change to the Nix code changes any derivation: evaluates every drvPath (packages,
# checks, dev shells, legacyPackages.tool; the Linux systems) and every output name (all
# systems) of the working tree twice, once as it is and once with the flake's Nix code
# (flake.nix and nix/, its generated layer folder and tests aside) taken from BASE-REV, and
# prints the differences. A restructuring of nix/ that keeps behaviour shows none.
#
#   NIX_EVAL_SH=../shared/nix-eval/eval.sh nix/tests/same-derivations.sh BASE-REV
#
# Not in CI (it compares against a revision of choice). Exit 0 when both agree, 1 otherwise.
# shellcheck source=nix/tests/common.sh
. "$(dirname "$0")/common.sh"
require jq git
base_rev=${1:?usage: same-derivations.sh BASE-REV}
harness=${NIX_EVAL_SH:?set NIX_EVAL_SH to the nix-eval harness eval.sh (or the real nix is not supported here)}
mkdir -p "$work/advisory-db"

copy() { # DEST: the working tree's files (tracked and unignored)
  mkdir -p "$1"
  (cd "$checkout" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) | tar -xf - -C "$1"
}
eval_json() { # DIR APPLY-EXPRESSION
  bash "$harness" "$1" eval --json "path:$1#." --override-input advisory-db "path:$work/advisory-db" --apply "$2" 2>/dev/null
}
derivations='f: let
  linux = set: builtins.intersectAttrs { x86_64-linux = 1; aarch64-linux = 1; } set;
  paths = set: builtins.mapAttrs (_: outputs: builtins.mapAttrs (_: d: d.drvPath) outputs) (linux set);
in {
  packages = paths f.packages;
  checks = paths f.checks;
  devShells = paths f.devShells;
  tools = builtins.mapAttrs (_: l: l.tool.drvPath) (linux f.legacyPackages);
}'
names='f: builtins.mapAttrs (_: builtins.mapAttrs (_: builtins.attrNames)) { inherit (f) packages checks devShells apps legacyPackages; }'

copy "$work/now"
copy "$work/base"
layer_dir=nix/deps
find "$work/base/nix" -mindepth 1 -maxdepth 1 ! -name deps ! -name tests -exec rm -rf {} +
git -C "$checkout" archive "$base_rev" flake.nix nix | tar -x -C "$work/base" --exclude "$layer_dir" --exclude nix/tests
for tree in base now; do
  eval_json "$work/$tree" "$derivations" >"$work/$tree-derivations.json" || fail "$tree: the derivations do not evaluate"
  eval_json "$work/$tree" "$names" >"$work/$tree-names.json" || fail "$tree: the output names do not evaluate"
done
say "derivations: $(jq '[paths(type == "string")] | length' "$work/now-derivations.json") now, $(jq '[paths(type == "string")] | length' "$work/base-derivations.json") with the Nix code of $base_rev"
if diff <(jq -S . "$work/base-derivations.json") <(jq -S . "$work/now-derivations.json"); then
  say "    ok: every drvPath is the same"
else
  fail "drvPaths differ (above: < with $base_rev's Nix code, > as it is)"
fi
if diff <(jq -S . "$work/base-names.json") <(jq -S . "$work/now-names.json"); then
  say "    ok: every output name is the same, on every system"
else
  fail "output names differ (above)"
fi
finish
