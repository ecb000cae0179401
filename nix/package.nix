# A variant's package: what the plan says the variant builds (its cargoArgs), on the variant's
# layer, so cargo compiles only the workspace's own crates. No GPU SDK is a build input: the binaries load their GPU runtime
# at run time (cudarc dynamic loading, HIP through dlopen, the Vulkan loader).
#   nix build .#cpu    nix build .#cuda
{
  lib,
  craneLib,
  autoAddDriverRunpath,
  variantArgs,
  # the layer's artifacts, or null when memberStage carries the last member step's
  layer,
  # the plan's mainProgram: the one binary the variant builds, or null
  mainProgram,
  src,
  # prepend /run/opengl-driver/lib to the RUNPATH, where NixOS puts libcuda and Vulkan drivers
  driverRunpath ? false,
  # the flake attribute listing what the source leaves out, for the failure hint
  sourceLeftOutAttr,
  # { tool; postInstall; }: how the build reports whether it hit its layer, or null for no report
  layerReport,
  # { tool; command; }: the last member step's staging (nix/member-steps.nix) when the package
  # is the end of a chain, or null
  memberStage ? null,
}:
craneLib.buildPackage (variantArgs
  // {
    inherit src;
    cargoArtifacts = layer;
    # Tests run in the nextest check (and never on a GPU in the sandbox).
    doCheck = false;
    nativeBuildInputs =
      (variantArgs.nativeBuildInputs or [])
      ++ lib.optional driverRunpath autoAddDriverRunpath
      ++ lib.optional (layerReport != null || memberStage != null) (
        if layerReport != null
        then layerReport.tool
        else memberStage.tool
      );
    meta = lib.optionalAttrs (mainProgram != null) {inherit mainProgram;};
  }
  # On a chain, cargo would take the member's stand-in from the step before as fresh.
  // lib.optionalAttrs (memberStage != null) {preBuild = memberStage.command;}
  # Every external unit cargo compiled here is one the layer should have held: crane's
  # cargoBuildLog (cargo's JSON messages) says which, in one line and in
  # $out/nix-support/layer-report.json, which the variant's layer check reads.
  // lib.optionalAttrs (layerReport != null) {inherit (layerReport) postInstall;}
  # With Cargo's files only (source = "cargo"), a file the build reads but the source left out
  # fails where it is read, and a build script may not say which: say what the source holds and
  # how to list what it does not.
  // lib.optionalAttrs (src ? leftOut) {
    passthru.sourceLeftOut = src.leftOut;
    failureHook = ''
      echo "deps-layer: the build failed. If a build script or include_str!/include_bytes! found no file" >&2
      echo "  ('No such file or directory'), the source lacks it: with source = \"cargo\" it holds the workspace's Cargo files" >&2
      echo "  (*.rs, *.toml, Cargo.lock, .cargo/config.toml), mkFlake's sourceExtensions and extraSourceFiles." >&2
      echo "  The workspace files it leaves out: nix eval --json .#${sourceLeftOutAttr}" >&2
      echo "  Add those the build reads to extraSourceFiles in flake.nix, or drop source = \"cargo\"." >&2
    '';
  })
