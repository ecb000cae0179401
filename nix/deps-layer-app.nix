# `nix run .#deps-layer -- check`: the generator/checker with the pinned cargo on its PATH (it runs
# `cargo metadata`), from the workspace's cpu build.
{
  lib,
  writeShellScriptBin,
  toolchain,
  workspace,
}:
writeShellScriptBin "deps-layer" ''
  export PATH=${lib.makeBinPath [toolchain workspace]}:$PATH
  exec deps-layer "$@"
''
