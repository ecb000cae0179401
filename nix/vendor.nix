# The vendored registry sources: ONE store path handed to every cargo derivation, layers and real
# builds alike. Cargo hashes the absolute source path of a registry crate into its fingerprint, so
# a second vendor directory would make the real build recompile every dependency.
# Taken from the generated layer's lock: the workspace's external packages and nothing else.
{craneLib}:
craneLib.vendorCargoDeps {cargoLock = ./deps/Cargo.lock;}
