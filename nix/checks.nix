# `nix flake check`: lints and tests. The Rust ones build on the variant's layer (deps-<v>), so
# they compile only the workspace's crates. Tests needing a GPU cannot run in the build sandbox;
# the nextest check runs what the payload's tests run without a device.
{
  craneLib,
  commonArgs,
  src,
  advisory-db,
  # src plus nix/deps and nix/deny.toml, for the checks that read them
  srcWithNix,
  # the workspace's cpu build, for the deps-layer binary
  workspace,
}: {
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

  deny = craneLib.cargoDeny (commonArgs
    // {
      src = srcWithNix;
      pname = "workspace";
      version = "0";
      cargoDenyChecks = "--config nix/deny.toml bans licenses sources";
    });

  # nix/deps must be what `deps-layer generate` writes for the committed workspace.
  deps-layer-check = craneLib.mkCargoDerivation (commonArgs
    // {
      src = srcWithNix;
      pname = "deps-layer-check";
      version = "0";
      cargoArtifacts = null;
      doInstallCargoArtifacts = false;
      buildPhaseCargoCommand = "deps-layer check";
      nativeBuildInputs = [workspace];
    });

  # Per variant: clippy and nextest over the whole workspace with the variant's features.
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
