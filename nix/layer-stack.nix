# The dependency layers of one system, by the plan's layer name (nix/lib/plan-json.nix): the
# workspace's external crates compiled from the generated crate in nix/deps, which names no
# workspace crate, path or version; a layer's store path changes only with the external
# dependency graph. The plan's `common` layer is crane's buildDepsOnly; any other layer stacks on
# the one its `stacksOn` names: buildDepsOnly cannot stack on other artifacts (it forces
# cargoArtifacts = null, crane#924), so the plan's commands run in mkCargoDerivation on top of it,
# and crane's incremental archive keeps only the delta. Both run exactly the plan's cargo commands.
#   nix build .#deps-common    nix build .#deps-cuda
{
  lib,
  craneLib,
  # lock files -> their vendored sources (nix/vendor-set.nix)
  vendorSetOf,
  # nix/crane-args.nix
  craneArgs,
  # nix/lib/variant-records.nix, and the system whose layers these are
  records,
  system,
}: let
  layerOf = name: let
    layer = records.layers.${name};
    commonArgs = craneArgs.layer name;
    # The layer's own slice of the generated crate (nix/deps/layers/<layer>): its manifest and
    # lock hold only the dependencies of this layer, so nothing of another variant is an input.
    src = builtins.path {
      path = layer.src;
      name = "deps-${layer.name}";
    };
    crate = craneLib.crateNameFromCargoToml {inherit src;};
    commands = {
      inherit (layer) buildPhaseCargoCommand checkPhaseCargoCommand;
      # Only this layer's crates, presented where every other build sees them.
      cargoVendorSet = vendorSetOf [(src + "/Cargo.lock")];
    };
  in
    if layer.stacksOn == null
    then
      craneLib.buildDepsOnly (commonArgs
        // commands
        // {
          # The real workspace never reaches the layer: crane takes name and version from dummySrc.
          dummySrc = src;
        })
    else
      craneLib.mkCargoDerivation (commonArgs
        // commands
        // {
          inherit src;
          pname = "${crate.pname}-${layer.name}";
          inherit (crate) version;
          pnameSuffix = "-deps";
          cargoArtifacts = layers.${layer.stacksOn};
          doCheck = true;
          doInstallCargoArtifacts = true;
          env = (commonArgs.env or {}) // {CRANE_BUILD_DEPS_ONLY = 1;};
        });
  layers = lib.genAttrs (records.layersOn system) layerOf;
in
  layers
