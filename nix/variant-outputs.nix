# Everything one variant builds, from its record (nix/lib/variant-records.nix): its package on its
# layer, its image, its dev shell and its checks. The variant's crane arguments are one set
# (nix/crane-args.nix) shared by the package and the checks, as by its layer.
{
  lib,
  pkgs,
  system,
  # nix/workspace-build.nix
  build,
  # nix/lib/variant-records.nix, and the variant's record in it
  records,
  record,
  # the derivation of the layer the variant builds on
  layer,
}: let
  nixLib = import ./lib;
  inherit (build) craneLib src;
  variantPkgs = build.craneArgs.pkgsFor record;

  # The variant's commonArgs with its package name, version and cargo flags.
  commonArgs =
    build.craneArgs.variant record
    // {
      inherit (record) pname cargoExtraArgs version;
    };

  # A runtime library from the variant's nixpkgs: the package, or only the files of its lib/
  # that the variant names (nix/runtime-subset.nix).
  runtimeLibraries = map (entry: let
    package = lib.getAttrFromPath entry.path variantPkgs;
  in
    if entry.keep == null
    then package
    else
      pkgs.callPackage ./runtime-subset.nix {
        inherit package;
        inherit (entry) keep;
      })
  record.runtimeLibraries;
  vulkanDrivers = map (path: lib.getAttrFromPath path variantPkgs) record.vulkanDrivers;

  layerOutput = records.layers.${record.layer}.output;
  # The package's chain of member steps (nix/member-steps.nix), or null: one derivation.
  chain =
    if record.memberSteps == []
    then null
    else
      import ./member-steps.nix {
        inherit lib craneLib src layer record reportCommand;
        inherit (pkgs) runCommand zstd;
        inherit (records) layerMiss members;
        inherit (build) tool root;
        args = commonArgs;
      };
  package = pkgs.callPackage ./package.nix {
    inherit craneLib src;
    # on a chain, the last step's staging carries its artifacts
    layer =
      if chain == null
      then layer
      else null;
    # the last step's staging: the last step's artifacts linked, its own units to compile again
    memberStage =
      if chain == null
      then null
      else {
        inherit (build) tool;
        command = chain.packageStage;
      };
    variantArgs = commonArgs;
    inherit (record) driverRunpath mainProgram;
    # crane's buildPackage keeps cargo's messages in $cargoBuildLog; the report stays beside
    # the binary for the variant's layer check.
    layerReport =
      if reports
      then {
        inherit (build) tool;
        postInstall = "mkdir -p $out/nix-support\n" + reportCommand records.layerMiss " --out $out/nix-support/layer-report.json";
      }
      else null;
    # every variant builds from the same source: the default package lists what it leaves out
    sourceLeftOutAttr = "packages.${system}.default.sourceLeftOut";
  };
  reports = records.layerMiss != "off";
  # The variant goes unnamed in the report: a variant without features has cpu's very package
  # and checks.
  cargoChecks = import ./cargo-checks.nix {
    inherit lib craneLib layer layerOutput reports;
    inherit (build) tool;
    args = commonArgs // {inherit src;};
  };
  inherit (cargoChecks) reportCommand;
  shellArgs = {
    inherit craneLib system;
    inherit (build) tool;
    inherit (nixLib.imageSettings) hostDriver;
    build = build.craneArgs.shell record;
  };
in {
  inherit package;
  # the member steps before the package, by output name
  memberSteps =
    if chain == null
    then {}
    else chain.byOutput;

  # Only for a variant with one program, on Linux (the record set's `hasImage`).
  image = pkgs.callPackage ./oci-image.nix {
    inherit package system runtimeLibraries vulkanDrivers;
    imagePlan = nixLib.imageSettings;
    variant = record;
  };

  shell = pkgs.callPackage ./dev-shell.nix (shellArgs
    // {
      inherit runtimeLibraries vulkanDrivers;
      variant = record;
    });
  # The default shell: the variant's build settings and the tools of `checks`, without the
  # device setup of its own shell.
  shellWith = checks: pkgs.callPackage ./dev-shell.nix (shellArgs // {inherit checks;});

  # clippy and nextest over the variant's selection and features, on its layer.
  checks = {
    inherit (cargoChecks) clippy nextest;
    # Fails naming each external unit the package compiled again, and the fix.
    layer = pkgs.runCommand "${record.pname}-layer-report" {nativeBuildInputs = [build.tool];} ''
      ${build.tool.meta.mainProgram} layer-report --variant ${nixLib.shellWords.escapeShellArg record.name} \
        --check ${package}/nix-support/layer-report.json
      touch $out
    '';
  };
}
