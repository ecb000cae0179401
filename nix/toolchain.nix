# The Rust toolchain from rust-overlay, as nix/lib/workspace.nix chose it for the workspace root:
# its rust-toolchain(.toml) as written, else the stable release of its rust-version, else the
# latest stable release the locked rust-overlay knows; the last two with what the checks run.
{
  rust-bin,
  root,
  # { source = "file"; file; } | { source = "release"; release; } | { source = "latest"; }
  choice,
}: let
  withChecks = toolchain: toolchain.override {extensions = ["clippy" "rustfmt"];};
in
  if choice.source == "file"
  then rust-bin.fromRustupToolchainFile (root + "/${choice.file}")
  else if choice.source == "release"
  then
    withChecks (rust-bin.stable.${choice.release}.default
      or (throw "rust-version ${choice.release}: the locked rust-overlay has no such stable release (update its input, or pass mkFlake a toolchain)"))
  else withChecks rust-bin.stable.latest.default
