# `nix flake check`: lints and tests. Per variant, clippy and nextest over what the variant builds
# (its cargoArgs from the plan) on the variant's layer, so they compile only the workspace's
# crates. The variants no longer build the whole workspace, so one clippy and one nextest over
# `--workspace` (every member, the tools and their tests included) run on the default variant's
# layer: they also compile the external crates that layer lacks (the other members' own, e.g.
# the GPU backends' and the tools'). Tests needing a GPU cannot run in the build sandbox; nextest
# runs what the tests run without a device.
{
  lib,
  craneLib,
  commonArgs,
  src,
  advisory-db,
  # src plus the layer folder and the deny configuration, for the checks that read them
  srcWithNix,
  # the deny configuration's path in the source, or null for cargo-deny's defaults
  denyConfig,
  # arguments naming the layer folder to `deps-layer check`, where it is not nix/deps
  layerDirArgs,
  # the deps-layer tool (nix/tools.nix, or the deps-layer flake's build)
  tool,
  # the default variant's arguments with the workspace's version, for the workspace-wide checks
  workspaceArgs,
  # the default variant's layer, which the workspace-wide checks start from
  defaultLayer,
}: let
  # nix/lib's quoting: only where needed, whatever nixpkgs' lib does
  inherit ((import ./lib).planFile) escapeShellArg;
  workspaceWide =
    workspaceArgs
    // {
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

  # Per variant: clippy and nextest over the variant's selection and features.
  forVariant = {
    variantArgs,
    layer,
  }: {
    clippy = craneLib.cargoClippy (variantArgs
      // {
        inherit src;
        cargoArtifacts = layer;
        cargoClippyExtraArgs = "--all-targets -- --deny warnings";
      });
    nextest = craneLib.cargoNextest (variantArgs
      // {
        inherit src;
        cargoArtifacts = layer;
        doInstallCargoArtifacts = false;
      });
  };
}
