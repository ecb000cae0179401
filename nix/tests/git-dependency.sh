#!/usr/bin/env bash
# A workspace with a git dependency, served from a local bare repository (`git+file://…#rev` in
# its lock, so nothing needs the network): lib.mkFlake evaluates it with crane's fetchGit and
# with gitDependencies.outputHashes (a fixed-output fetch); the vendor set of the package and of
# the layer put the source in a folder keyed by the locked revision; a second revision of the
# same branch (same URL, crate and version) gets new derivations and its own folder.
# GIT_DEPENDENCY_BUILD=1 with the harness's build.sh as NIX_EVAL_SH also builds both revisions and
# runs each binary, which prints the revision it was built from.
# Needs NIX_EVAL_SH (the harness's eval.sh or build.sh), git, cargo, jq.
# shellcheck source=nix/tests/common.sh
. "$(dirname "$0")/common.sh"
require git cargo jq
: "${NIX_EVAL_SH:?set NIX_EVAL_SH to eval.sh or build.sh of the nix-eval harness}"
# shellcheck source=nix/tests/library-input.sh
. "$checkout/nix/tests/library-input.sh"
build_deps_layer

# --- the git repository, at two revisions of one branch
repo="$work/dep.git"
dep="$work/dep"
git_crate_init "$dep" dep
rev1=$(git_crate_commit "$dep" revision-one)
git clone -q --bare "$dep" "$repo"

# --- the workspace: a binary that prints the dependency's revision
app="$work/app"
mkdir -p "$app/src"
cat >"$app/Cargo.toml" <<EOF
[package]
name = "hello"
version = "0.1.0"
edition = "2021"

[dependencies]
dep = { git = "file://$repo", branch = "main" }
EOF
echo 'fn main() { println!("{}", dep::origin()); }' >"$app/src/main.rs"
cargo generate-lockfile -q --manifest-path "$app/Cargo.toml"
"$work/deps-layer" generate --manifest-path "$app/Cargo.toml" >/dev/null
flake "$app" ""
source_of() { grep -o "git+file://[^\"]*#$1" "$app/Cargo.lock" | head -n 1; }
expect "the lock pins the first revision" "$(source_of "$rev1")" "git+file://$repo?branch=main#$rev1"

# The vendor sets of a package: the folder names their build command gives the git source.
vendor_folders() { # OUTPUT
  nixc "$app" derivation show --recursive "path:.#packages.$system.$1" |
    jq -r '.[] | select(.name == "cargo-vendor-set") | .env.buildCommand' |
    grep -o '\$out/[0-9a-f]\{64\}-[0-9a-f]\{40\}' | sort -u | sed 's|\$out/||'
}
drv() { nixc "$app" eval --raw "path:.#packages.$system.$1.drvPath"; }

say "== revision one"
folders1=$(vendor_folders default)
expect "the package's and the layer's vendor sets key the git folder by the revision" \
  "$(printf '%s\n' "$folders1" | sed 's/^[0-9a-f]*-//' | sort -u)" "$rev1"
package1=$(drv default)
layer1=$(drv deps-common)

if [[ "${GIT_DEPENDENCY_BUILD:-0}" == 1 ]]; then
  # build mode's nixpkgs builds fetchgit's tools from source (perl from mirror://cpan)
  say "== crane's outputHashes: evaluated in eval mode only"
else
  say "== crane's outputHashes: the checkout becomes a fixed-output fetch"
  # crane's fetchgit fetches LFS objects too; the harness's nixpkgs stand-in has no git-lfs, so
  # evaluation gets a placeholder (nothing is built here).
  flake "$app" "      gitDependencies.outputHashes.\"git+file://$repo?branch=main#$rev1\" = \"sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\";
        gitDependencies.overrideVendorGitCheckout = ps: drv: drv.overrideAttrs (_: {checkoutOf = builtins.concatStringsSep \" \" (map (p: p.name) ps);});
        overlays = [(final: prev: {git-lfs = prev.git-lfs or prev.git;})];"
  expect "the checkout's source is fetched with the given hash" \
    "$(nixc "$app" derivation show --recursive "path:.#packages.$system.default" |
      jq -r '[.[] | select(.env.outputHash? == "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=") | .env.rev] | unique | join(" ")')" "$rev1"
  expect "overrideVendorGitCheckout gets the checkout of the lock's crates" \
    "$(nixc "$app" derivation show --recursive "path:.#packages.$system.default" |
      jq -r '[.[] | .env.checkoutOf? // empty] | unique | join(" ")')" "dep"
fi
flake "$app" "      gitDependencies.outputHash = {};"
if err=$(nixc "$app" eval --raw "path:.#packages.$system.default.drvPath" 2>&1); then
  fail "a misspelt gitDependencies setting was accepted"
else
  expect "a misspelt gitDependencies setting is named" \
    "$(grep -c "gitDependencies takes outputHashes and overrideVendorGitCheckout, not outputHash" <<<"$err")" 1
fi
flake "$app" ""

say "== revision two: same URL, branch, crate and version"
rev2=$(git_crate_commit "$dep" revision-two)
git -C "$repo" fetch -q "$dep" main:main
cargo update -q --manifest-path "$app/Cargo.toml" -p dep
"$work/deps-layer" generate --manifest-path "$app/Cargo.toml" >/dev/null
expect "the lock pins the second revision" "$(source_of "$rev2")" "git+file://$repo?branch=main#$rev2"
folders2=$(vendor_folders default)
expect "the vendor sets key the git folder by the new revision" \
  "$(printf '%s\n' "$folders2" | sed 's/^[0-9a-f]*-//' | sort -u)" "$rev2"
expect "the folder differs from revision one's" "$([[ "$folders1" != "$folders2" ]] && echo yes)" yes
package2=$(drv default)
layer2=$(drv deps-common)
expect "the package is a new derivation" "$([[ "$package1" != "$package2" ]] && echo yes)" yes
expect "the layer is a new derivation" "$([[ "$layer1" != "$layer2" ]] && echo yes)" yes

if [[ "${GIT_DEPENDENCY_BUILD:-0}" == 1 ]]; then
  say "== build mode: each revision built, and its binary run"
  built() { nixc "$app" build --no-link --print-out-paths "path:.#packages.$system.default" | tail -n 1; }
  out2=$(built)
  expect "revision two's binary" "$("$out2/bin/hello")" revision-two
  (cd "$app" && sed -i "s/$rev2/$rev1/" Cargo.lock)
  "$work/deps-layer" generate --manifest-path "$app/Cargo.toml" >/dev/null
  expect "back at revision one" "$(source_of "$rev1")" "git+file://$repo?branch=main#$rev1"
  out1=$(built)
  expect "revision one's binary, built after revision two's" "$("$out1/bin/hello")" revision-one
  expect "two store paths" "$([[ "$out1" != "$out2" ]] && echo yes)" yes
  expect "revision two's binary still" "$("$out2/bin/hello")" revision-two
fi

finish
