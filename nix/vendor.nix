# The vendored registry sources: ONE store path handed to every cargo derivation, layers and real
# builds alike. Cargo hashes the absolute source path of a registry crate into its fingerprint, so
# a second vendor directory would make the real build recompile every dependency.
# Taken from the generated layer's lock, which keeps every external package of the workspace lock
# (those no build compiles too), plus `extraCargoLocks`: the locks of test workspaces the tests
# build offline. Those share this one directory so the checks that run the tests still reuse the
# layer; editing such a lock therefore changes the layers' store paths as well.
{
  craneLib,
  extraCargoLocks ? [],
}:
craneLib.vendorMultipleCargoDeps {cargoLockList = [./deps/Cargo.lock] ++ extraCargoLocks;}
