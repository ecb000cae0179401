# Vendored registry sources of some lock files (crane's layout), for nix/vendor-at-fixed-path.sh,
# which presents every such set at one path: cargo hashes a crate's absolute source path into its
# fingerprint, and the layers and the real builds must agree on it to share compiled units.
{
  craneLib,
  cargoLocks,
}:
craneLib.vendorMultipleCargoDeps {cargoLockList = cargoLocks;}
