#!/usr/bin/env bash
# nix/vendor-at-fixed-path.sh against other users and other builds of one machine, without Nix's
# sandbox: every build here shares /tmp, as on macOS or a Linux install with sandbox = false.
# In a private mount namespace with an empty /tmp, a small store in the vendor set's layout
# (nix/vendor-set.nix: registry folder, git folder keyed by nix/lib/vendor.nix) holds an honest
# registry crate and a git dependency at two revisions. Builds run as two build users (30001,
# 30002); another local user (6666) attacks first. Each build is a strict shell that sources the
# hook and runs `cargo build --offline --locked`, then its binary, which prints the code it was
# built from. Every case must end with the build succeeding, its own code in its binary, no
# foreign build script run, and the hook saying where it read its sources.
# Needs root, util-linux (unshare, setpriv), git, cargo and nix-instantiate.
# shellcheck source=nix/tests/common.sh
. "$(dirname "$0")/common.sh"
require git cargo rustc unshare setpriv

if [[ "$(id -u)" != 0 ]] || ! unshare -m true 2>/dev/null; then
  if [[ "${VENDOR_TRUST_REQUIRE_NAMESPACE:-1}" == 1 ]]; then
    echo "$test_name: needs root and a private mount namespace (VENDOR_TRUST_REQUIRE_NAMESPACE=0 skips)" >&2
    exit 1
  fi
  echo "$test_name: skipped (not root, or no mount namespace)"
  exit 0
fi

if [[ "${1:-}" != --inside ]]; then
  # A scratch folder other users can read, outside the /tmp the namespace replaces.
  scratch=$(mktemp -d /var/tmp/vendor-trust.XXXXXX)
  trap 'rm -rf "$scratch" "$work"' EXIT
  chmod 0755 "$scratch"
  sysroot=$(cd "$checkout" && rustc --print sysroot)
  # TMPDIR: the inner run's own scratch (common.sh) must survive the empty /tmp too.
  TMPDIR=$scratch VENDOR_TRUST_SCRATCH=$scratch VENDOR_TRUST_SYSROOT=$sysroot unshare -m --propagation private "$0" --inside
  exit $?
fi

scratch=${VENDOR_TRUST_SCRATCH:?}
# What is read of the checkout after /tmp is replaced, copied first: the checkout may be under /tmp.
cp -r "$checkout/nix/lib" "$scratch/nix-lib"
cp "$checkout/nix/vendor-at-fixed-path.sh" "$scratch/"
hook="$scratch/vendor-at-fixed-path.sh"
mount -t tmpfs -o mode=1777 tmpfs /tmp
# The toolchain at a path every user can traverse (a rustup home is usually root's alone).
mkdir -p "$scratch/rust"
mount --bind "${VENDOR_TRUST_SYSROOT:?}" "$scratch/rust"
store="$scratch/store"
mkdir -p "$store"

# --- the sources: an honest registry crate, a git repository at two revisions
crate_dir() { # NAME VERSION ORIGIN -> a crate folder as crane vendors it
  local dir="$store/$RANDOM$RANDOM-$1-$2"
  mkdir -p "$dir/src"
  printf '[package]\nname = "%s"\nversion = "%s"\nedition = "2021"\n' "$1" "$2" >"$dir/Cargo.toml"
  printf 'pub fn origin() -> &%sstatic str { "%s" }\n' "'" "$3" >"$dir/src/lib.rs"
  printf '{"files":{},"package":"%s"}' "$(printf '%s' "$1-$2" | sha256sum | cut -d' ' -f1)" >"$dir/.cargo-checksum.json"
  printf '%s' "$dir"
}
honest_itoa=$(crate_dir itoa 1.0.19 honest-itoa)
registry_id="registry+https://github.com/rust-lang/crates.io-index"
registry_folder=$(printf '%s' "$registry_id" | sha256sum | cut -d' ' -f1)

git_repo="$scratch/gitdep.git"
git_work="$scratch/gitdep"
git_crate_init "$git_work" gitdep
rev1=$(git_crate_commit "$git_work" gitdep-rev1)
git clone -q --bare "$git_work" "$git_repo"

# The workspace: a binary printing the code of both dependencies.
app="$scratch/app"
mkdir -p "$app/src"
cat >"$app/Cargo.toml" <<EOF
[package]
name = "app"
version = "0.1.0"
edition = "2021"

[dependencies]
itoa = "=1.0.19"
gitdep = { git = "file://$git_repo", branch = "main" }
EOF
printf 'fn main() { println!("{} {}", itoa::origin(), gitdep::origin()); }\n' >"$app/src/main.rs"

# --- vendor sets in nix/vendor-set.nix's layout, one per lock
# The git folder's name, as nix/lib/vendor.nix computes it from the lock.
git_folder_of() { # LOCK
  nix_instantiate --eval --strict --json --expr "
    let lock = builtins.fromTOML (builtins.readFile $1);
    in map (f: f.keyed) ((import $scratch/nix-lib).vendor.gitFolders {
      packages = lock.package;
      decode = url: url;
    })" | sed -n 's/^\["\([0-9a-f-]*\)"\]$/\1/p'
}
vendor_set() { # LOCK REV ITOA_DIR -> set folder
  local lock=$1 rev=$2 itoa=$3 set git_checkout folder
  set="$store/$RANDOM$RANDOM-cargo-vendor-set"
  mkdir -p "$set/$registry_folder"
  ln -s "$itoa" "$set/$registry_folder/itoa-1.0.19"
  folder=$(git_folder_of "$lock")
  [[ "$folder" == *"-$rev" ]] || {
    echo "git folder '$folder' does not carry the locked revision $rev" >&2
    exit 1
  }
  # one checkout per revision, as one fetch derivation per revision gives
  git_checkout="$store/cargo-git-gitdep-$rev"
  if [[ ! -d "$git_checkout" ]]; then
    mkdir -p "$git_checkout/gitdep-0.1.0"
    git -C "$git_repo" archive "$rev" | tar -x -C "$git_checkout/gitdep-0.1.0"
    printf '{"files":{},"package":null}' >"$git_checkout/gitdep-0.1.0/.cargo-checksum.json"
  fi
  mkdir -p "$set/$folder"
  ln -s "$git_checkout/gitdep-0.1.0" "$set/$folder/gitdep-0.1.0"
  cat >"$set/config.toml" <<EOF
[source.crates-io]
replace-with = "nix-sources-$registry_folder"

[source.nix-sources-$registry_folder]
directory = "$set/$registry_folder"

[source."file://$git_repo?branch=main"]
git = "file://$git_repo"
branch = "main"
replace-with = "nix-sources-git"

[source.nix-sources-git]
directory = "$set/$folder"
EOF
  printf '%s' "$set"
}

# The lock: crates.io from the honest crate, git from the repository.
lock_home="$scratch/lock-home"
mkdir -p "$lock_home"
cat >"$lock_home/config.toml" <<EOF
[source.crates-io]
replace-with = "honest"
[source.honest]
directory = "$scratch/honest-registry"
EOF
mkdir -p "$scratch/honest-registry"
ln -s "$honest_itoa" "$scratch/honest-registry/itoa-1.0.19"
(cd "$app" && CARGO_HOME="$lock_home" cargo generate-lockfile -q)
cp "$app/Cargo.lock" "$scratch/rev1.lock"
set_rev1=$(vendor_set "$scratch/rev1.lock" "$rev1" "$honest_itoa")
rev2=$(git_crate_commit "$git_work" gitdep-rev2)
git -C "$git_repo" fetch -q "$git_work" main:main
(cd "$app" && CARGO_HOME="$lock_home" cargo update -q -p gitdep)
cp "$app/Cargo.lock" "$scratch/rev2.lock"
set_rev2=$(vendor_set "$scratch/rev2.lock" "$rev2" "$honest_itoa")
[[ "$rev1" != "$rev2" ]] || fail "the two revisions are one"

# --- the foreign crate: same name and version, a build script that leaves a mark
evil="$scratch/evil"
mkdir -p "$evil/itoa-1.0.19/src"
printf '[package]\nname = "itoa"\nversion = "1.0.19"\nedition = "2021"\nbuild = "build.rs"\n' >"$evil/itoa-1.0.19/Cargo.toml"
printf 'pub fn origin() -> &%sstatic str { "FOREIGN" }\n' "'" >"$evil/itoa-1.0.19/src/lib.rs"
printf 'fn main() { std::fs::write("%s/foreign-build-script-ran", "").ok(); }\n' "$scratch" >"$evil/itoa-1.0.19/build.rs"
cp "$honest_itoa/.cargo-checksum.json" "$evil/itoa-1.0.19/"
mkdir -p "$evil/broken-9.9.9"
printf 'cargo-features = ["not-a-feature"]\n[package\n' >"$evil/broken-9.9.9/Cargo.toml"
printf '{"files":{},"package":null}' >"$evil/broken-9.9.9/.cargo-checksum.json"
chown -R 6666:6666 "$evil"
chmod 0777 "$scratch"

as_other() { setpriv --reuid 6666 --regid 6666 --clear-groups -- "$@"; }
expect_denied() { # WHAT COMMAND... (run as the other user)
  if as_other "${@:2}" 2>/dev/null; then
    fail "$1: it was allowed"
  else
    say "    ok: $1: denied"
  fi
}

# One build: its own folder and cargo home, the hook sourced, cargo run offline on the lock.
builds=0
build() { # N UID LOCK SET -> the binary's output; the hook's line in $scratch/hook-<n>
  local n=$1 uid=$2 lock=$3 set=$4 dir
  dir="$scratch/builds/$n"
  mkdir -p "$dir"
  cp -r "$app/src" "$app/Cargo.toml" "$dir/"
  cp "$lock" "$dir/Cargo.lock"
  chown -R "$uid:$uid" "$dir"
  # shellcheck disable=SC2016 # expanded by the build's shell
  setpriv --reuid "$uid" --regid "$uid" --clear-groups -- env -i \
    PATH="$scratch/rust/bin:/usr/bin:/bin" HOME="$dir" CARGO_HOME="$dir/.cargo" \
    cargoVendorSet="$set" hook="$hook" dir="$dir" \
    bash -euo pipefail -c '
      mkdir -p "$CARGO_HOME"
      cd "$dir"
      . "$hook" >hook.log
      cargo build -q --offline --locked 2>cargo.log
      ./target/debug/app' || {
    echo "build $n (uid $uid) failed:" >&2
    cat "$dir/hook.log" "$dir/cargo.log" >&2 2>/dev/null || true
    return 1
  }
  cp "$dir/hook.log" "$scratch/hook-$n"
}
hook_line() { cat "$scratch/hook-$builds"; }
expect_build() { # WHAT UID LOCK SET EXPECTED_OUTPUT HOOK_PATTERN
  local out
  builds=$((builds + 1))
  out=$(build "$builds" "$2" "$3" "$4") || {
    fail "$1: the build was denied"
    return
  }
  expect "$1: the binary's code" "$out" "$5"
  # shellcheck disable=SC2053 # the expected line is a pattern
  if [[ "$(hook_line)" == $6 ]]; then
    say "    ok: $1: $(hook_line)"
  else
    fail "$1: the hook said '$(hook_line)', expected $6"
  fi
  if [[ -e "$scratch/foreign-build-script-ran" ]]; then
    fail "$1: the foreign build script ran"
    rm -f "$scratch/foreign-build-script-ran"
  fi
}
fixed() { printf '/tmp/nix-cargo-vendor-%s' "$1"; }
reset_tmp() { find /tmp -mindepth 1 -delete; }

say "== honest builds reuse one fixed path per build user"
expect_build "first build" 30001 "$scratch/rev1.lock" "$set_rev1" "honest-itoa gitdep-rev1" "vendored sources of * at $(fixed 30001)"
expect_build "second build, same user" 30001 "$scratch/rev1.lock" "$set_rev1" "honest-itoa gitdep-rev1" "vendored sources of * at $(fixed 30001)"
expect "the folder is the build user's alone" "$(stat -c '%u %a' "$(fixed 30001)")" "30001 755"

say "== A: another user plants a crate at a build user's fixed path first"
reset_tmp
as_other mkdir -m 0755 "$(fixed 30001)"
as_other mkdir -m 0755 "$(fixed 30001)/$registry_folder"
as_other ln -s "$evil/itoa-1.0.19" "$(fixed 30001)/$registry_folder/itoa-1.0.19"
expect_build "A" 30001 "$scratch/rev1.lock" "$set_rev1" "honest-itoa gitdep-rev1" "vendored sources at their store path, not $(fixed 30001) ($(fixed 30001) belongs to another user)*"

say "== B: one git source at two revisions, built one after the other by one user, then the other"
reset_tmp
expect_build "B rev1" 30001 "$scratch/rev1.lock" "$set_rev1" "honest-itoa gitdep-rev1" "vendored sources of * at $(fixed 30001)"
expect_build "B rev2 after rev1" 30001 "$scratch/rev2.lock" "$set_rev2" "honest-itoa gitdep-rev2" "vendored sources of * at $(fixed 30001)"
expect_build "B rev1 after rev2" 30001 "$scratch/rev1.lock" "$set_rev1" "honest-itoa gitdep-rev1" "vendored sources of * at $(fixed 30001)"
expect_build "B rev2, the other build user" 30002 "$scratch/rev2.lock" "$set_rev2" "honest-itoa gitdep-rev2" "vendored sources of * at $(fixed 30002)"
expect "B: one folder per revision" "$(find "$(fixed 30001)" -mindepth 1 -maxdepth 1 -name "*-$rev1" -o -mindepth 1 -maxdepth 1 -name "*-$rev2" | wc -l)" 2

say "== D: the folder pre-created 0755 by another user"
reset_tmp
as_other mkdir -m 0755 "$(fixed 30001)"
expect_build "D" 30001 "$scratch/rev1.lock" "$set_rev1" "honest-itoa gitdep-rev1" "vendored sources at their store path, not $(fixed 30001) ($(fixed 30001) belongs to another user)*"

say "== E: the folder pre-created 0777 without the sticky bit; a link swapped after a build"
reset_tmp
as_other mkdir -m 0777 "$(fixed 30001)"
expect_build "E first build" 30001 "$scratch/rev1.lock" "$set_rev1" "honest-itoa gitdep-rev1" "vendored sources at their store path, not $(fixed 30001) ($(fixed 30001) belongs to another user)*"
as_other mkdir -p "$(fixed 30001)/$registry_folder"
as_other ln -sfn "$evil/itoa-1.0.19" "$(fixed 30001)/$registry_folder/itoa-1.0.19"
expect_build "E after the swap" 30001 "$scratch/rev1.lock" "$set_rev1" "honest-itoa gitdep-rev1" "vendored sources at their store path, not $(fixed 30001) (*)*"
reset_tmp
expect_build "E' the build user's own folder" 30001 "$scratch/rev1.lock" "$set_rev1" "honest-itoa gitdep-rev1" "vendored sources of * at $(fixed 30001)"
expect_denied "E': another user swaps a link in a build user's folder" \
  ln -sfn "$evil/itoa-1.0.19" "$(fixed 30001)/$registry_folder/itoa-1.0.19"

say "== F: an entry cargo cannot parse"
reset_tmp
as_other mkdir -m 0755 "$(fixed 30001)"
as_other mkdir -m 0755 "$(fixed 30001)/$registry_folder"
as_other ln -s "$evil/broken-9.9.9" "$(fixed 30001)/$registry_folder/broken-9.9.9"
expect_build "F in a folder another user made" 30001 "$scratch/rev1.lock" "$set_rev1" "honest-itoa gitdep-rev1" "vendored sources at their store path, not $(fixed 30001) ($(fixed 30001) belongs to another user)*"
reset_tmp
expect_build "F' the build user's own folder" 30001 "$scratch/rev1.lock" "$set_rev1" "honest-itoa gitdep-rev1" "vendored sources of * at $(fixed 30001)"
expect_denied "F': another user adds an entry to a build user's folder" \
  ln -s "$evil/broken-9.9.9" "$(fixed 30001)/$registry_folder/broken-9.9.9"
expect_build "F' next build" 30001 "$scratch/rev1.lock" "$set_rev1" "honest-itoa gitdep-rev1" "vendored sources of * at $(fixed 30001)"

say "== entries of the build user's own folder: collected ones replaced, others never changed"
reset_tmp
setpriv --reuid 30001 --regid 30001 --clear-groups -- mkdir -p -m 0755 "$(fixed 30001)/$registry_folder"
setpriv --reuid 30001 --regid 30001 --clear-groups -- ln -s "$store/collected-itoa-1.0.19" "$(fixed 30001)/$registry_folder/itoa-1.0.19"
expect_build "a link to a collected store path" 30001 "$scratch/rev1.lock" "$set_rev1" "honest-itoa gitdep-rev1" "vendored sources of * at $(fixed 30001)"
expect "the collected link names this build's crate" "$(readlink "$(fixed 30001)/$registry_folder/itoa-1.0.19")" "$honest_itoa"
other_itoa=$(crate_dir itoa 1.0.19 other-itoa)
cp "$honest_itoa/.cargo-checksum.json" "$other_itoa/"
set_other=$(vendor_set "$scratch/rev1.lock" "$rev1" "$other_itoa")
expect_build "another build's store path for the same crate" 30001 "$scratch/rev1.lock" "$set_other" "other-itoa gitdep-rev1" "vendored sources at their store path, not $(fixed 30001) (*names $honest_itoa, not this build's $other_itoa)*"
expect "that link is left as it was" "$(readlink "$(fixed 30001)/$registry_folder/itoa-1.0.19")" "$honest_itoa"

finish
