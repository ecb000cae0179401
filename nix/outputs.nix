# One system's flake outputs: each variant's record (nix/lib/variant-records.nix) built by
# nix/variant-outputs.nix on its layer (nix/layer-stack.nix), under the record's names.
{
  lib,
  pkgs,
  pkgsWithConfig,
  crane,
  records,
  system,
  advisory-db,
  # what nix/flake-lib.nix read from the workspace
  workspace,
  libraryTool,
  # { system, pkgs, craneLib, toolchain, src, root, plan } -> more legacyPackages
  extraLegacyPackages,
}: let
  build = import ./workspace-build.nix {inherit lib pkgs pkgsWithConfig crane records workspace libraryTool;};
  layers = import ./layer-stack.nix {
    inherit lib system records;
    inherit (build) craneLib vendorSetOf craneArgs;
  };
  onSystem = lib.genAttrs (records.namesOn system) (name: records.variants.${name});
  built = lib.mapAttrs (_: record:
    import ./variant-outputs.nix {
      inherit lib pkgs system build records record;
      layer = layers.${record.layer};
    })
  onSystem;
  default = records.variants.${records.defaultVariant system};
  # record's name for an output -> what the variant built, for the variants `keep` selects
  byName = nameOf: output: keep:
    lib.mapAttrs' (name: record: lib.nameValuePair (nameOf record) (output built.${name})) (lib.filterAttrs keep onSystem);
  every = _: _: true;

  workspaceChecks = pkgs.callPackage ./workspace-checks.nix {
    inherit build workspace advisory-db records layers;
  };
  checks =
    lib.getAttrs records.workspaceChecks workspaceChecks
    // byName (r: r.outputs.checks.package) (v: v.package) every
    // byName (r: r.outputs.checks.clippy) (v: v.checks.clippy) every
    // byName (r: r.outputs.checks.nextest) (v: v.checks.nextest) every
    // lib.optionalAttrs (records.layerMiss != "off") (byName (r: r.outputs.checks.layer) (v: v.checks.layer) every);
in {
  packages =
    {default = built.${default.name}.package;}
    // lib.mapAttrs' (name: layer: lib.nameValuePair records.layers.${name}.output layer) layers
    // byName (r: r.outputs.package) (v: v.package) every
    // lib.mapAttrs' (_: record: lib.nameValuePair record.outputs.variantLayer layers.${record.layer}) onSystem
    // byName (r: r.outputs.image) (v: v.image) (name: _: records.hasImage system name)
    // lib.concatMapAttrs (_: v: v.memberSteps) built;

  inherit checks;

  devShells =
    {
      # The default variant's checks and the workspace's: their tools land in the shell.
      default = built.${default.name}.shellWith (lib.getAttrs (records.workspaceChecks
        ++ [default.outputs.checks.clippy default.outputs.checks.nextest])
      checks);
    }
    # A sole variant named like the default shell (no variants table) has it as its shell.
    // byName (r: r.outputs.shell) (v: v.shell) (_: r: r.outputs.shell != "default");

  # depsLayerPlan: the plan these outputs were made from; cache-report reads its names here
  legacyPackages =
    extraLegacyPackages {
      inherit system pkgs;
      inherit (build) craneLib toolchain src;
      inherit (workspace) root;
      plan = records;
    }
    // {
      inherit (build) tool;
      depsLayerPlan = records.planData;
    };

  apps.deps-layer = build.app;
}
