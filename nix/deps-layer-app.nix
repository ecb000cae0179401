# `nix run .#deps-layer -- check`: the generator/checker with the pinned cargo on its PATH (it runs
# `cargo metadata`), from the tool's own build (nix/tool-package.nix).
{
  lib,
  writeShellScriptBin,
  toolchain,
  tool,
}:
writeShellScriptBin tool.meta.mainProgram ''
  export PATH=${lib.makeBinPath [toolchain tool]}:$PATH
  exec ${tool.meta.mainProgram} "$@"
''
