# The Rust toolchain pinned by rust-toolchain.toml (channel and components), from rust-overlay.
{rust-bin}: rust-bin.fromRustupToolchainFile ../rust-toolchain.toml
