#!/usr/bin/env bash
# The checks over every member, built (not in CI: build mode of ../shared/nix-eval, minutes): a
# two-member workspace whose `tool` member no variant ships.
#   (1) opt-in off: the flake has no check over `--workspace`, so `tool` is built by no check;
#   (2) `workspace-checks = true`: `clippy` and `nextest` build on `deps-workspace` and report
#       0 external units compiled;
#   (3) `tool` gains a dependency, `nix/deps` not regenerated: `clippy` fails naming the crate and
#       the fix; regenerated, it passes again with 0 compiled.
#
#   nix/tests/workspace-checks-build.sh        (results in $OUT, default /tmp/workspace-checks)
# Env: NIX_EVAL (default ../shared/nix-eval, after setup-build.sh), KEEP_EVAL_TMP=1.
set -euo pipefail
checkout=$(cd "$(dirname "$0")/../.." && pwd)
harness=$(cd "${NIX_EVAL:-$checkout/../shared/nix-eval}" && pwd)
work=${OUT:-/tmp/workspace-checks}
system=x86_64-linux
rm -rf "$work" && mkdir -p "$work"
say() { printf '%s\n' "$*"; }
fail() {
  say "FAIL: $*"
  exit 1
}
export NIX_EVAL_SH="$harness/build.sh"
# shellcheck source=nix/tests/library-input.sh
. "$checkout/nix/tests/library-input.sh"
cargo build -q --locked --manifest-path "$checkout/Cargo.toml" -p deps-layer
deps_layer="$checkout/target/debug/deps-layer"

ws="$work/ws"
mkdir -p "$ws/app/src" "$ws/tool/src"
cat >"$ws/Cargo.toml" <<'TOML'
[workspace]
resolver = "2"
members = ["app", "tool"]

[workspace.metadata.variants]
cpu = { packages = ["app"] }
TOML
cat >"$ws/app/Cargo.toml" <<'TOML'
[package]
name = "app"
version = "0.1.0"
edition = "2021"

[dependencies]
itoa = "1"
TOML
echo 'fn main() { println!("{}", itoa::Buffer::new().format(42)); }' >"$ws/app/src/main.rs"
cat >"$ws/tool/Cargo.toml" <<'TOML'
[package]
name = "tool"
version = "0.1.0"
edition = "2021"

[dependencies]
fastrand = "2"
TOML
cat >"$ws/tool/src/lib.rs" <<'RS'
pub fn pick(n: usize) -> usize {
    fastrand::usize(..n)
}

#[test]
fn picks_below_the_bound() {
    assert!(pick(3) < 3);
}
RS
(cd "$ws" && cargo generate-lockfile -q --offline && "$deps_layer" init --library "path:$library" --offline >"$work/init.log")
git -C "$ws" init -q
commit() { git -C "$ws" add -A && git -C "$ws" -c user.name=t -c user.email=t@localhost commit -qm "$1"; }
commit base
checks() { nixc "$ws" eval --json "path:.#checks.$system" --apply builtins.attrNames --override-input advisory-db "path:$work/advisory-db" | jq -r 'join(" ")'; }
build_check() { # NAME LOG
  bash "$harness/build.sh" "$ws" build -L --no-link "path:.#checks.$system.$1" "${extra[@]}" --override-input advisory-db "path:$work/advisory-db" >"$2" 2>&1
}
report_line() { grep -o 'layer deps-[a-z]*: [0-9]* of [0-9]* external units compiled[^"]*' "$1" | head -1; }

say "== (1) opt-in off"
off=$(checks)
say "  checks: $off"
[[ " $off " == *" clippy-cpu "* ]] || fail "no clippy-cpu"
[[ " $off " != *" clippy "* && " $off " != *" nextest "* ]] || fail "a check over every member without the opt-in"

say "== (2) workspace-checks = true"
printf '\n[workspace.metadata.deps-layer]\nworkspace-checks = true\n' >>"$ws/Cargo.toml"
(cd "$ws" && "$deps_layer" generate --offline >/dev/null)
commit opt-in
on=$(checks)
say "  checks: $on"
[[ " $on " == *" clippy "* && " $on " == *" nextest "* ]] || fail "no checks over every member with the opt-in"
for check in clippy nextest; do
  build_check "$check" "$work/$check.log" || fail "$check failed: $(tail -5 "$work/$check.log")"
  line=$(report_line "$work/$check.log")
  say "  $check: $line"
  [[ "$line" == "layer deps-workspace: 0 of "* ]] || fail "$check compiled external units"
done

say "== (3) tool gains smallvec, nix/deps not regenerated"
(cd "$ws" && cargo add -q --offline -p tool smallvec@1)
commit stale
if build_check clippy "$work/stale.log"; then
  fail "clippy passed on a stale layer"
fi
say "  clippy failed: $(report_line "$work/stale.log")"
grep -E 'smallvec|deps-layer generate' "$work/stale.log" | sed 's/^/    /' | head -6
grep -q smallvec "$work/stale.log" || fail "the miss is not named"
(cd "$ws" && "$deps_layer" generate --offline >/dev/null)
commit regenerated
build_check clippy "$work/regenerated.log" || fail "clippy failed after regenerating: $(tail -5 "$work/regenerated.log")"
line=$(report_line "$work/regenerated.log")
say "  regenerated: $line"
[[ "$line" == "layer deps-workspace: 0 of "* ]] || fail "clippy compiled external units after regenerating"
say "ok"
