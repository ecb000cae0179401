# `nix flake check`'s checks over the whole workspace (each variant's own clippy and nextest are
# nix/variant-outputs.nix's): formatting, advisories, bans and licences, the layer's drift, and,
# since the variants no longer build the whole workspace, one clippy and one nextest over
# `--workspace` (every member, the tools and their tests included) run on the default variant's
# layer: they also compile the external crates that layer lacks (the other members' own, e.g.
# the GPU backends' and the tools'). Tests needing a GPU cannot run in the build sandbox; nextest
# runs what the tests run without a device.
{
  lib,
  # nix/workspace-build.nix
  build,
  # what nix/flake-lib.nix read from the workspace
  workspace,
  advisory-db,
  # the default variant's record and layer, which the workspace-wide clippy and nextest start from
  defaultRecord,
  defaultLayer,
}: let
  # quoting only where needed, whatever nixpkgs' lib does
  inherit ((import ./lib).shellWords) escapeShellArg;
  inherit (build) craneLib src srcWithNix tool;
  commonArgs = build.craneArgs.common;
  # the deny configuration's path in the source, or null for cargo-deny's defaults
  denyConfig =
    if workspace.denyConfig == null
    then null
    else build.relativeToRoot workspace.denyConfig;
  # `deps-layer check` looks in nix/deps unless told otherwise.
  layerDirArgs = lib.optionals (workspace.layerDir != workspace.root + "/nix/deps") ["--out" (build.relativeToRoot workspace.layerDir)];
  workspaceWide =
    build.craneArgs.variant defaultRecord
    // {
      inherit (workspace) version;
      inherit src;
      pname = "workspace";
      cargoArtifacts = defaultLayer;
      cargoExtraArgs = "--locked --workspace";
    };
in {
  fmt = craneLib.cargoFmt {
    inherit src;
    pname = "workspace";
    version = "0";
  };

  audit = craneLib.cargoAudit {
    inherit src advisory-db;
    pname = "workspace";
    version = "0";
  };

  deny =
    craneLib.cargoDeny (commonArgs
      // {
        src = srcWithNix;
        pname = "workspace";
        version = "0";
        # Without an allow list every licence is refused, so no list means no licence check.
        cargoDenyChecks =
          if denyConfig == null
          then "bans sources"
          else "bans licenses sources";
        # cargo-deny finds deny.toml at the root by itself; `--config` sits after `check` up to
        # 0.19 and before it from 0.20, so a configuration elsewhere is put there instead.
        preBuild =
          lib.optionalString (denyConfig != null && denyConfig != "deny.toml")
          "cp ${escapeShellArg denyConfig} deny.toml
";
      });

  # The layer folder must be what `deps-layer generate` writes for the committed workspace.
  deps-layer-check = craneLib.mkCargoDerivation (commonArgs
    // {
      src = srcWithNix;
      pname = "deps-layer-check";
      version = "0";
      cargoArtifacts = null;
      doInstallCargoArtifacts = false;
      buildPhaseCargoCommand = lib.concatMapStringsSep " " escapeShellArg ([tool.meta.mainProgram "check"] ++ layerDirArgs);
      nativeBuildInputs = (commonArgs.nativeBuildInputs or []) ++ [tool];
    });

  clippy = craneLib.cargoClippy (workspaceWide
    // {
      cargoClippyExtraArgs = "--all-targets -- --deny warnings";
    });
  nextest = craneLib.cargoNextest (workspaceWide
    // {
      doInstallCargoArtifacts = false;
    });
}
