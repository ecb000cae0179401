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
  package = pkgs.callPackage ./package.nix {
    inherit craneLib src layer;
    variantArgs = commonArgs;
    inherit (record) driverRunpath mainProgram;
    layerReport = {
      inherit (build) tool;
      inherit (records) layerMiss;
      inherit layerOutput;
    };
    # every variant builds from the same source: the default package lists what it leaves out
    sourceLeftOutAttr = "packages.${system}.default.sourceLeftOut";
  };
  onLayer = {
    inherit src;
    cargoArtifacts = layer;
  };
  # A check's report on cargo's messages in LOG: a unit compiled again fails it. The variant
  # goes unnamed, as in the package: a variant without features has cpu's very checks.
  reportOn = log: ''
    ${build.tool.meta.mainProgram} layer-report --layer ${nixLib.shellWords.escapeShellArg layerOutput} \
      --log "${log}" --on-miss error
  '';
  shellArgs = {
    inherit craneLib system;
    inherit (build) tool;
    inherit (nixLib.imageSettings) hostDriver;
    build = build.craneArgs.shell record;
  };
in {
  inherit package;

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
    clippy = craneLib.cargoClippy (commonArgs
      // onLayer
      // {
        cargoClippyExtraArgs = "--all-targets -- --deny warnings";
      }
      # cargo's JSON messages to a log (crane runs the command through the shell), the
      # diagnostics to the build log as before; a unit compiled again fails the check.
      // lib.optionalAttrs (records.layerMiss != "off") {
        preBuild = "cargoBuildLog=$(mktemp cargoBuildLogXXXX.json)";
        cargoClippyExtraArgs = "--all-targets --message-format json-render-diagnostics >\"$cargoBuildLog\" -- --deny warnings";
        nativeBuildInputs = (commonArgs.nativeBuildInputs or []) ++ [build.tool];
        postBuild = reportOn "$cargoBuildLog";
      });
    nextest = craneLib.cargoNextest (commonArgs
      // onLayer
      // {
        doInstallCargoArtifacts = false;
      }
      # nextest forwards cargo's JSON messages to stdout with this format; test output is on
      # stderr, in the build log.
      // lib.optionalAttrs (records.layerMiss != "off") {
        preCheck = "cargoBuildLog=$(mktemp cargoBuildLogXXXX.json)";
        cargoNextestExtraArgs = "--cargo-message-format json-render-diagnostics >\"$cargoBuildLog\"";
        nativeBuildInputs = (commonArgs.nativeBuildInputs or []) ++ [build.tool];
        postCheck = reportOn "$cargoBuildLog";
      });
    # Fails naming each external unit the package compiled again, and the fix.
    layer = pkgs.runCommand "${record.pname}-layer-report" {nativeBuildInputs = [build.tool];} ''
      ${build.tool.meta.mainProgram} layer-report --variant ${nixLib.shellWords.escapeShellArg record.name} \
        --check ${package}/nix-support/layer-report.json
      touch $out
    '';
  };
}
