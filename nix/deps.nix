# A dependency layer: the workspace's external crates compiled from the generated crate in
# nix/deps, which names no workspace crate, path or version; its store path changes only with the
# external dependency graph. Called without `common` it is deps-common, crane's buildDepsOnly.
# Called with `common` and a variant it is that variant's delta: buildDepsOnly cannot stack on
# other artifacts (it forces cargoArtifacts = null, crane#924), so the same three commands run in
# mkCargoDerivation on top of deps-common, and crane's incremental archive keeps only the delta.
#   nix build .#deps-common    nix build .#deps-cuda
{
  craneLib,
  commonArgs,
  layerSrc,
  # null for deps-common, else { name; layerCommands; } from nix/lib
  variant ? null,
  common ? null,
}: let
  crate = craneLib.crateNameFromCargoToml {src = layerSrc;};
in
  if variant == null
  then
    craneLib.buildDepsOnly (commonArgs
      // {
        # The real workspace never reaches the layer: crane takes name and version from dummySrc.
        dummySrc = layerSrc;
      })
  else
    craneLib.mkCargoDerivation (commonArgs
      // {
        src = layerSrc;
        pname = "${crate.pname}-${variant.name}";
        inherit (crate) version;
        pnameSuffix = "-deps";
        cargoArtifacts = common;
        doCheck = true;
        doInstallCargoArtifacts = true;
        buildPhaseCargoCommand = variant.layerCommands.build;
        checkPhaseCargoCommand = variant.layerCommands.check;
        env = (commonArgs.env or {}) // {CRANE_BUILD_DEPS_ONLY = 1;};
      })
