# `nix flake check`'s checks over the whole workspace (each variant's own clippy and nextest are
# nix/variant-outputs.nix's): formatting, advisories, bans and licences, the layer's drift, and,
# when the workspace opts in (`workspace-checks = true` in [workspace.metadata.deps-layer], so
# plan.json has `workspaceChecks`), clippy and nextest over every member on the plan's layer for
# them, stacked on the common one: tools and members no variant ships compile no external crate
# either. Off, a member that needs an interpreter or SDK to build is never pulled in. Tests
# needing a GPU cannot run in the build sandbox; nextest runs what the tests run without one.
{
  lib,
  # nix/workspace-build.nix
  build,
  # what nix/flake-lib.nix read from the workspace
  workspace,
  advisory-db,
  # nix/lib/variant-records.nix, and the system's layers by name (nix/layer-stack.nix)
  records,
  layers,
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
  wide = records.workspaceWide;
  wideChecks = import ./cargo-checks.nix {
    inherit lib craneLib tool;
    reportFlags = " --every-member";
    args =
      build.craneArgs.layer wide.layer
      // {
        inherit (workspace) version;
        inherit src;
        inherit (wide) cargoExtraArgs;
        pname = "workspace";
      };
    layer = layers.${wide.layer};
    layerOutput = records.layers.${wide.layer}.output;
    reports = records.layerMiss != "off";
  };
in
  {
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
  }
  // lib.optionalAttrs (wide != null) {
    ${wide.outputs.clippy} = wideChecks.clippy;
    ${wide.outputs.nextest} = wideChecks.nextest;
  }
