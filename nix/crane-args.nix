# The crane arguments every cargo derivation of a variant shares (its layer, package and checks):
# one set per variant, and the common one the shared layer gets. Build settings (nix/lib's
# attribute paths and env) are looked up in the variant's own nixpkgs.
{
  lib,
  # nixpkgs with rust-overlay applied, and config -> nixpkgs with that config
  pkgs,
  pkgsWithConfig,
  # nix/lib/variant-records.nix for this workspace
  records,
  # the workspace lock's vendored sources (nix/vendor-set.nix)
  workspaceVendorSet,
}: let
  # Runtime libraries and build inputs come from nixpkgs configured for the variant (CUDA
  # licences, GPU targets).
  pkgsFor = record:
    if record == null || record.nixpkgsConfig == null
    then pkgs
    else pkgsWithConfig record.nixpkgsConfig;

  resolveBuild = from: build: {
    buildInputs = map (path: lib.getAttrFromPath path from) build.buildInputs;
    nativeBuildInputs = map (path: lib.getAttrFromPath path from) build.nativeBuildInputs;
    env = build.env // lib.mapAttrs (_: path: toString (lib.getAttrFromPath path from)) build.envPaths;
  };
  withBuild = args: resolved:
    args
    // lib.optionalAttrs (resolved.buildInputs != []) {buildInputs = (args.buildInputs or []) ++ resolved.buildInputs;}
    // lib.optionalAttrs (resolved.nativeBuildInputs != []) {nativeBuildInputs = (args.nativeBuildInputs or []) ++ resolved.nativeBuildInputs;}
    // {env = args.env // resolved.env;};
  recordOf = name:
    if name == null
    then null
    else records.variants.${name};

  # Shared by every cargo derivation of every variant: the same environment, sources at the
  # same path (a layer replaces cargoVendorSet with its own lock's), and the defaults' build
  # settings; the common layer gets exactly these.
  common = withBuild {
    # crane's own vendoring puts every vendor set at its store path; nix/vendor-at-fixed-path.sh
    # puts each at one path instead.
    cargoVendorDir = null;
    cargoVendorSet = workspaceVendorSet;
    preConfigure = ". ${./vendor-at-fixed-path.sh}";
    strictDeps = true;
    # cc-wrapper seeds -frandom-seed from the output path; a fixed seed keeps C objects built by
    # build scripts identical between the layer and the real build.
    env.NIX_OUTPATH_USED_AS_RANDOM_SEED = "depslayer0";
    # The plan's profile, for the layers and every build on them alike.
    CARGO_PROFILE = records.profile;
  } (resolveBuild pkgs records.defaultBuild);
in {
  inherit common pkgsFor;

  # commonArgs of a variant: the shared ones and the variant's own build settings.
  variant = record: withBuild common (resolveBuild (pkgsFor record) record.build);

  # A layer's: those of the variants that build on it (nix/lib checks that they agree).
  layer = name: let
    owner = records.layerBuild name;
  in
    withBuild common (resolveBuild (pkgsFor (recordOf owner.variant)) owner.build);

  # A dev shell's: the defaults' and the variant's build settings, without crane's.
  shell = record: withBuild (withBuild {env = {};} (resolveBuild pkgs records.defaultBuild)) (resolveBuild (pkgsFor record) record.build);
}
