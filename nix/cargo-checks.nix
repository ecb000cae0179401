# clippy and nextest on a layer, for a variant (nix/variant-outputs.nix) and for the checks over
# every member (nix/workspace-checks.nix): cargo's JSON messages go to $cargoBuildLog, and
# `deps-layer layer-report` fails the check when an external unit compiled again (unless the
# layer report is off).
{
  lib,
  craneLib,
  # the workspace's deps-layer (nix/tool-package.nix)
  tool,
  # the derivation's crane arguments: commonArgs with pname, version, cargoExtraArgs, src
  args,
  # the layer the checks start from, and its output name for the report
  layer,
  layerOutput,
  # whether the checks report (records.layerMiss != "off")
  reports,
  # more `layer-report` flags: whose builds these are, for the fix a miss prints
  reportFlags ? "",
}: let
  inherit ((import ./lib).shellWords) escapeShellArg;
  onLayer = args // {cargoArtifacts = layer;};
  # `deps-layer layer-report` on cargo's messages in $cargoBuildLog: one line, and each miss
  # with the fix; ON-MISS is what a miss does.
  reportCommand = onMiss: moreArgs: ''
    ${tool.meta.mainProgram} layer-report --layer ${escapeShellArg layerOutput} \
      --log "$cargoBuildLog"${moreArgs} --on-miss ${onMiss}
  '';
  # A check's cargo messages go to $cargoBuildLog (crane runs its command through the shell, so
  # the check's arguments redirect them), and a unit compiled again fails it; PHASE is the one
  # that runs cargo.
  reporting = phase:
    lib.optionalAttrs reports {
      "pre${phase}" = "cargoBuildLog=$(mktemp cargoBuildLogXXXX.json)";
      "post${phase}" = reportCommand "error" reportFlags;
      nativeBuildInputs = (args.nativeBuildInputs or []) ++ [tool];
    };
in {
  inherit reportCommand;

  clippy = craneLib.cargoClippy (onLayer
    // {
      cargoClippyExtraArgs = "--all-targets -- --deny warnings";
    }
    # the diagnostics stay in the build log
    // reporting "Build"
    // lib.optionalAttrs reports {
      cargoClippyExtraArgs = "--all-targets --message-format json-render-diagnostics >\"$cargoBuildLog\" -- --deny warnings";
    });
  nextest = craneLib.cargoNextest (onLayer
    // {
      doInstallCargoArtifacts = false;
    }
    # nextest forwards cargo's JSON messages to stdout with this format; test output is on
    # stderr, in the build log
    // reporting "Check"
    // lib.optionalAttrs reports {
      cargoNextestExtraArgs = "--cargo-message-format json-render-diagnostics >\"$cargoBuildLog\"";
    });
}
