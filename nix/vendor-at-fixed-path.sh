# shellcheck shell=bash
# Sourced by every cargo derivation (commonArgs.preConfigure): presents the derivation's vendored
# sources ($cargoVendorSet, nix/vendor.nix: <set>/<folder>/<crate>-<version> -> store path) at ONE
# fixed path and points cargo there, or, when that path cannot be trusted, at the store path.
#
# Why one path: cargo hashes a registry or git crate's absolute source path into its fingerprint.
# Each layer vendors only its own lock, which puts a crate under a different vendor store path in
# every layer; at the fixed path it has the same name everywhere, so a layer stacked on another
# and the real build reuse its units.
#
# Trust (threat model: nix/README.md, "Vendored sources and the fixed path"): cargo compiles
# whatever the fixed path names, so every entry there must be this derivation's own store path.
#  - The folder is /tmp/nix-cargo-vendor-<uid>: in Nix's Linux sandbox /tmp is private to the
#    build and starts empty; elsewhere the uid keeps build users (and users) apart.
#  - It is used only if it is a real directory owned by this uid and writable by nobody else, in
#    a /tmp that is sticky (nobody else can rename it away) or ours; so only builds of this uid
#    ever wrote in it.
#  - Entries are only added, never changed while they can be read: a link that exists must
#    name exactly this derivation's store path; one naming a path that no longer exists (garbage
#    collected, so no running build reads it) is replaced. Any other difference is not ours to
#    settle.
#  - Git sources sit in a folder keyed by their locked revision (nix/vendor.nix), so two
#    revisions of one repository never share a path.
# When any of that does not hold, the build reads its sources from the store path instead, says
# why in one line, and compiles again the external crates the layer had compiled elsewhere.

# Prints why the fixed path cannot be used, and fails; silent when it can.
cargoVendorClaimFolder() {
  local folder=$1
  mkdir -m 0755 "$folder" 2>/dev/null || true
  if [[ -L "$folder" || ! -d "$folder" ]]; then
    echo "$folder is not a directory"
    return 1
  fi
  if [[ ! -O "$folder" ]]; then
    echo "$folder belongs to another user"
    return 1
  fi
  if [[ -n "$(find "$folder" -maxdepth 0 -perm /022)" ]]; then
    echo "$folder is writable by other users"
    return 1
  fi
}

# Prints why an entry cannot be used, and fails; silent when LINK names TARGET afterwards.
cargoVendorClaimLink() {
  local link=$1 target=$2 current
  if [[ ! -L "$link" ]]; then
    if [[ -e "$link" ]]; then
      echo "$link is not a link"
      return 1
    fi
    # A concurrent build of this uid may create it first: then it must name the same path.
    ln -s "$target" "$link" 2>/dev/null && return 0
  fi
  current=$(readlink "$link") || {
    echo "$link cannot be read"
    return 1
  }
  [[ "$current" == "$target" ]] && return 0
  if [[ -e "$current" ]]; then
    echo "$link names $current, not this build's $target"
    return 1
  fi
  # The link's store path was collected; replaced in one step, as another build may do too.
  if ! { ln -s "$target" "$link.$$" && mv -fT "$link.$$" "$link"; }; then
    echo "$link cannot be replaced"
    return 1
  fi
  [[ "$(readlink "$link")" == "$target" ]] || {
    echo "$link changed while it was replaced"
    return 1
  }
}

cargoVendorClaimSet() {
  local set=$1 fixed=$2 folder name crate
  if [[ ! -k /tmp && ! -O /tmp ]]; then
    echo "/tmp is neither sticky nor this user's"
    return 1
  fi
  cargoVendorClaimFolder "$fixed" || return 1
  for folder in "$set"/*; do
    [[ -d "$folder" ]] || continue
    name=${folder##*/}
    cargoVendorClaimFolder "$fixed/$name" || return 1
    for crate in "$folder"/*; do
      cargoVendorClaimLink "$fixed/$name/${crate##*/}" "$(readlink -f "$crate")" || return 1
    done
  done
}

cargoVendorAtFixedPath() {
  local set="${cargoVendorSet:?cargoVendorSet is not set}"
  local fixed reason
  fixed=/tmp/nix-cargo-vendor-$(id -u)
  if reason=$(cargoVendorClaimSet "$set" "$fixed"); then
    echo "vendored sources of $set at $fixed"
    sed "s|$set/|$fixed/|g" "$set/config.toml" >>"${CARGO_HOME:?not defined}/config.toml"
  else
    echo "vendored sources at their store path, not $fixed ($reason): the external crates the layer compiled are compiled again"
    cat "$set/config.toml" >>"${CARGO_HOME:?not defined}/config.toml"
  fi
}

# The binaries may still name a crate's store path (a build script that canonicalises its
# manifest dir): crane's buildPackage strips those references when it vendors; with
# cargoVendorDir = null it does not, so do it here, where crane's hook is there to call (its
# buildPackage; a layer's archive is no runtime closure).
cargoVendorRemoveReferences() {
  removeReferencesToVendoredSources "${out:?not defined}" "$cargoVendorSet"
}

if [[ -n "${cargoVendorSet-}" ]]; then
  cargoVendorAtFixedPath
  if [[ -z "${doNotRemoveReferencesToVendorDir-}" ]] && declare -F removeReferencesToVendoredSources >/dev/null; then
    postInstallHooks+=(cargoVendorRemoveReferences)
  fi
else
  echo "cargoVendorSet not set: no vendored sources configured"
fi
