# Vendored sources of some lock files, for nix/vendor-at-fixed-path.sh, which presents the set at
# one path: cargo hashes a crate's absolute source path into its fingerprint, and the layers and
# the real builds must agree on it to share compiled units. crane's layout, with each git
# source's folder keyed by its locked revision (nix/lib/vendor.nix).
{
  lib,
  runCommandLocal,
  craneLib,
  cargoLocks,
  # crane's git settings: outputHashes (fixed-output fetches: evaluation needs no network) and
  # overrideVendorGitCheckout
  gitSources ? {},
}: let
  crane = craneLib.vendorMultipleCargoDeps ({cargoLockList = cargoLocks;} // gitSources);
  renames = (import ./lib).vendor.gitFolders {
    packages = lib.concatMap (lock: (builtins.fromTOML (builtins.readFile lock)).package or []) cargoLocks;
    decode = craneLib.internalPercentDecode or (url: url);
  };
  renamed = map (r: r.folder) renames;
in
  runCommandLocal "cargo-vendor-set" {} ''
    mkdir "$out"
    for entry in ${crane}/*; do
      name=''${entry##*/}
      [[ "$name" == config.toml ]] && continue
      case " ${lib.concatStringsSep " " renamed} " in
        *" $name "*) ;;
        *) ln -s "$(readlink -f "$entry")" "$out/$name" ;;
      esac
    done
    ${lib.concatMapStrings (r: ''
        ln -s "$(readlink -f ${crane}/${r.folder})" "$out/${r.keyed}"
      '')
      renames}
    sed -e "s|${crane}/|$out/|g" ${lib.concatMapStrings (r: "-e 's|/${r.folder}\"|/${r.keyed}\"|' ") renames} \
      ${crane}/config.toml >"$out/config.toml"
  ''
