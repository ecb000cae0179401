# shellcheck shell=bash
# Sourced by every cargo derivation (commonArgs.preConfigure): presents the derivation's vendored
# sources ($cargoVendorSet, crane's vendor layout: <set>/<registry>/<crate>-<version> -> store
# path) at ONE fixed path and points cargo there.
#
# Why: cargo hashes a registry crate's absolute source path into its fingerprint. Each layer
# vendors only its own lock (so a CUDA-only change reaches no other layer's inputs), which puts
# the same crate under a different vendor store path in every layer; at the fixed path it is the
# same file name everywhere, so a layer stacked on another and the real build reuse its units.
#
# Where: /tmp. In Nix's Linux sandbox every build has a private, empty /tmp. Without a sandbox
# (macOS, sandbox = false) builds share it: the folder only ever gains links, and a link's
# target is fixed by the crate's name, version and checksum, so concurrent builds agree; a link
# whose target was garbage-collected is replaced. Cargo ignores entries whose Cargo.toml is missing.

cargoVendorAtFixedPath() {
  local set="${cargoVendorSet:?cargoVendorSet is not set}"
  local fixed=/tmp/nix-cargo-vendor
  local registry name crate link
  mkdir -p "$fixed"
  chmod 1777 "$fixed" 2>/dev/null || true
  for registry in "$set"/*; do
    [[ -d "$registry" ]] || continue
    name=${registry##*/}
    mkdir -p "$fixed/$name"
    chmod 1777 "$fixed/$name" 2>/dev/null || true
    for crate in "$registry"/*; do
      link="$fixed/$name/${crate##*/}"
      if [[ ! -e "$link" ]]; then
        ln -sfn "$(readlink -f "$crate")" "$link"
      fi
    done
  done
  echo "vendored sources of $set at $fixed"
  sed "s|$set/|$fixed/|g" "$set/config.toml" >>"${CARGO_HOME:?not defined}/config.toml"
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
