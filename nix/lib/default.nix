# Every decision the flake makes, as pure functions (builtins only). The nix/*.nix files that touch
# nixpkgs only map this plan onto crane and dockerTools calls. Tested by nix/tests/lib.nix.
let
  inherit
    (builtins)
    attrNames
    concatMap
    elem
    filter
    mapAttrs
    ;

  variants = import ./variants.nix;
  image = import ./image.nix;
  licences = import ./licences.nix;

  linuxSystems = ["x86_64-linux" "aarch64-linux"];
  isLinux = system: elem system linuxSystems;

  # Defaults for a variant that nix/variants.nix does not mention: a plain Linux build.
  metaDefaults = {
    accelerator = null;
    nixpkgsConfig = {};
    runtimeLibraries = [];
    vulkanDrivers = [];
    driverRunpath = false;
    unfree = null;
    systems = linuxSystems;
  };

  lastOf = path: builtins.elemAt path (builtins.length path - 1);

  # A runtime library as nix/variants.nix writes it (an attribute path, or { path; keep; }) ->
  # { path; keep; }, keep = null meaning the package's whole lib/.
  runtimeLibrary = entry:
    if builtins.isList entry
    then {
      path = entry;
      keep = null;
    }
    else if builtins.isAttrs entry && builtins.isList (entry.path or null) && builtins.isList (entry.keep or null) && entry.keep != []
    then {inherit (entry) path keep;}
    else throw "nix/variants.nix: a runtime library is an attribute path or { path = [...]; keep = [globs]; } with at least one glob";
in {
  inherit variants image licences linuxSystems isLinux;

  # Files besides Cargo's own (.rs, .toml, Cargo.lock) that crates read at build time
  # (include_str!, shaders, kernels, migrations). Anything else (docs, CI) never reaches the build.
  sourceExtensions = ["wgsl" "glsl" "comp" "spv" "hlsl" "cu" "cuh" "ptx" "hip" "cl" "sql"];

  # The whole plan for one repository.
  #   cargoToml:   text of the root Cargo.toml
  #   nixVariants: nix/variants.nix
  #   payload:     the binary the images run
  plan = {
    cargoToml,
    nixVariants,
    payload,
  }: let
    cargoVariants = variants.fromCargoToml cargoToml;

    meta =
      mapAttrs (name: _: metaDefaults // (nixVariants.${name} or {})) cargoVariants;

    one = name: let
      v = cargoVariants.${name};
      m = meta.${name};
      featured = variants.hasFeatures v;
      cfg = m.nixpkgsConfig;
    in {
      inherit name;
      inherit (v) features;
      inherit (m) accelerator systems vulkanDrivers;
      runtimeLibraries = map runtimeLibrary m.runtimeLibraries;
      layer = variants.layerName name v;
      layerCommands = variants.layerCommands name v;
      cargoExtraArgs = variants.cargoExtraArgs v;
      pname = variants.packageName name v payload;
      # Only a variant with features may differ from cpu at build time; a feature-less one must
      # produce cpu's very derivations.
      driverRunpath = featured && m.driverRunpath;
      # null: the default nixpkgs instance serves (no accelerator config).
      nixpkgsConfig =
        if cfg == {} && m.unfree == null
        then null
        else
          cfg
          // (
            if m.unfree != null
            then {allowUnfreePredicate = licences.unfreePredicate m.unfree (map (e: lastOf (runtimeLibrary e).path) m.runtimeLibraries);}
            else {}
          );
    };

    all = mapAttrs (name: _: one name) cargoVariants;
    names = attrNames all;
    namesOn = system: filter (n: elem system all.${n}.systems) names;
    systems = filter (s: namesOn s != []) (linuxSystems ++ ["x86_64-darwin" "aarch64-darwin"]);
  in {
    variants = all;
    inherit systems namesOn;

    # The default package and shell: cpu when declared, else the first variant.
    defaultVariant = system: let
      on = namesOn system;
    in
      if elem "cpu" on
      then "cpu"
      else builtins.head on;

    # Output names per system, so the flake and its tests agree on what exists.
    outputs = system: let
      on = namesOn system;
    in {
      packages =
        ["default" "deps-common"]
        ++ on
        # deps-<v> for every variant: a feature-less one's is deps-common itself
        ++ map (n: "deps-${n}") on
        ++ (
          if isLinux system
          then map (n: "image-${n}") on
          else []
        );
      devShells = ["default"] ++ on;
      checks =
        ["fmt" "audit" "deny" "deps-layer-check"]
        ++ concatMap (n: ["package-${n}" "clippy-${n}" "nextest-${n}"]) on;
    };
  };
}
