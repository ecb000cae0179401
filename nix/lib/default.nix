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

  planFile = import ./plan.nix;
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
    imageUser = null;
  };

  knobTypes = {
    accelerator = x: x == null || elem x ["nvidia" "rocm" "vulkan"];
    nixpkgsConfig = builtins.isAttrs;
    runtimeLibraries = builtins.isList;
    vulkanDrivers = x: builtins.isList x && builtins.all builtins.isList x;
    driverRunpath = builtins.isBool;
    unfree = x: x == null || builtins.isString x;
    systems = x: builtins.isList x && builtins.all builtins.isString x;
    imageUser = x: x == null || (builtins.isString x && builtins.match "[a-z_][a-z0-9_-]*" x != null);
  };
  # A variant's entry in nix/variants.nix: known knobs of the right type only, so a typo fails
  # here instead of being ignored.
  checkNixVariant = name: knobs: let
    unknown = filter (k: !(knobTypes ? ${k})) (attrNames knobs);
    wrong = filter (k: knobTypes ? ${k} && !(knobTypes.${k} knobs.${k})) (attrNames knobs);
  in
    if !(builtins.isAttrs knobs)
    then throw "nix/variants.nix: ${name} must be an attribute set"
    else if unknown != []
    then throw "nix/variants.nix: ${name} has unknown settings ${builtins.toJSON unknown} (known: ${builtins.toJSON (attrNames knobTypes)})"
    else if wrong != []
    then throw "nix/variants.nix: ${name} has settings of the wrong type or value: ${builtins.toJSON wrong}"
    else knobs;

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
  inherit planFile image licences linuxSystems isLinux;

  # Files besides Cargo's own (.rs, .toml, Cargo.lock) that crates read at build time
  # (include_str!, shaders, kernels, migrations). Anything else (docs, CI) never reaches the build.
  sourceExtensions = ["wgsl" "glsl" "comp" "spv" "hlsl" "cu" "cuh" "ptx" "hip" "cl" "sql"];

  # The whole plan for one repository: plan.json (cargo's side, generated) joined with
  # nix/variants.nix (what only Nix needs).
  #   layerDir:    the folder holding plan.json and the layer crate (nix/deps)
  #   nixVariants: nix/variants.nix
  #   planData:    the parsed plan.json; read from layerDir unless given (tests pass fixtures)
  plan = {
    layerDir,
    nixVariants,
    planData ? builtins.fromJSON (builtins.readFile (layerDir + "/plan.json")),
  }: let
    cargoPlan = planFile.read {inherit planData layerDir;};
    cargoVariants = cargoPlan.variants;

    meta =
      mapAttrs (name: _: metaDefaults // checkNixVariant name (nixVariants.${name} or {})) cargoVariants;
    strayNixVariants = filter (n: !(cargoVariants ? ${n})) (attrNames nixVariants);

    one = name: let
      v = cargoVariants.${name};
      m = meta.${name};
      featured = v.features != [];
      cfg = m.nixpkgsConfig;
    in {
      inherit name;
      inherit (v) features layer cargoArgs cargoExtraArgs pname mainProgram outputs;
      inherit (m) accelerator systems vulkanDrivers;
      runtimeLibraries = map runtimeLibrary m.runtimeLibraries;
      # The image's user: the knob, else the program it runs.
      imageUser =
        if m.imageUser != null
        then m.imageUser
        else v.mainProgram;
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

    all =
      if strayNixVariants != []
      then throw "nix/variants.nix: ${builtins.toJSON strayNixVariants} name no variant of plan.json (variants: ${builtins.toJSON (attrNames cargoVariants)})"
      else mapAttrs (name: _: one name) cargoVariants;
    names = attrNames all;
    # The layers the variants on a system build on, with what they stack on.
    layersOn = system: let
      direct = map (n: all.${n}.layer) (namesOn system);
      withBase = name: let
        l = cargoPlan.layers.${name};
      in
        [name]
        ++ (
          if l.stacksOn == null
          then []
          else withBase l.stacksOn
        );
    in
      filter (l: elem l (concatMap withBase (["common"] ++ direct))) (attrNames cargoPlan.layers);
    namesOn = system: filter (n: elem system all.${n}.systems) names;
    systems = filter (s: namesOn s != []) (linuxSystems ++ ["x86_64-darwin" "aarch64-darwin"]);
  in {
    variants = all;
    inherit (cargoPlan) profile layers;
    inherit systems namesOn layersOn;

    # The default package and shell: cpu when declared, else the first variant.
    defaultVariant = system: let
      on = namesOn system;
    in
      if elem "cpu" on
      then "cpu"
      else builtins.head on;

    # Output names per system, so the flake and its tests agree on what exists. Besides the plan's
    # names, `deps-<variant>` names the layer each variant builds on.
    outputs = system: let
      on = namesOn system;
      out = kind: map (n: all.${n}.outputs.${kind}) on;
    in {
      packages =
        ["default"]
        ++ map (l: cargoPlan.layers.${l}.output) (layersOn system)
        ++ out "package"
        ++ filter (n: !(elem n (map (l: cargoPlan.layers.${l}.output) (layersOn system)))) (map (n: "deps-${n}") on)
        ++ (
          if isLinux system
          then map (n: all.${n}.outputs.image) (filter (n: all.${n}.mainProgram != null) on)
          else []
        );
      devShells = ["default"] ++ out "shell";
      checks =
        ["fmt" "audit" "deny" "deps-layer-check" "clippy" "nextest"]
        ++ concatMap (n: ["package-${n}" "clippy-${n}" "nextest-${n}"]) on;
    };
  };
}
