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
  workspace = import ./workspace.nix;
  vendor = import ./vendor.nix;

  linuxSystems = ["x86_64-linux" "aarch64-linux"];
  isLinux = system: elem system linuxSystems;

  # Defaults for a variant that the variants knob does not mention: a plain Linux build.
  metaDefaults = {
    accelerator = null;
    nixpkgsConfig = {};
    runtimeLibraries = [];
    vulkanDrivers = [];
    driverRunpath = false;
    unfree = null;
    systems = linuxSystems;
    imageUser = null;
    image = {};
  };
  # What the crane derivations of a variant (its layer, package and checks) get on top of the
  # shared arguments.
  buildDefaults = {
    buildInputs = [];
    nativeBuildInputs = [];
    env = {};
  };

  isStringList = x: builtins.isList x && builtins.all builtins.isString x;
  isAttrPath = x: isStringList x && x != [];
  isUser = x: builtins.isString x && builtins.match "[a-z_][a-z0-9_-]*" x != null;

  imageKnobTypes = {
    entrypoint = isStringList;
    cmd = isStringList;
    ports = x: builtins.isList x && builtins.all image.isPort x;
    user = isUser;
    volumes = x: builtins.isList x && builtins.all image.isVolume x;
  };

  knobTypes = {
    accelerator = x: x == null || elem x ["nvidia" "rocm" "vulkan"];
    nixpkgsConfig = builtins.isAttrs;
    runtimeLibraries = builtins.isList;
    vulkanDrivers = x: builtins.isList x && builtins.all builtins.isList x;
    driverRunpath = builtins.isBool;
    unfree = x: x == null || builtins.isString x;
    systems = isStringList;
    imageUser = x: x == null || isUser x;
    buildInputs = x: builtins.isList x && builtins.all isAttrPath x;
    nativeBuildInputs = x: builtins.isList x && builtins.all isAttrPath x;
    env = x: builtins.isAttrs x && builtins.all builtins.isString (builtins.attrValues x);
    image = builtins.isAttrs;
  };
  # An entry of the variants knob (or the defaults knob): known settings of the right type only,
  # so a typo fails here instead of being ignored. `where` names the entry in messages.
  checkKnobs = where: knobs: let
    unknown = filter (k: !(knobTypes ? ${k})) (attrNames knobs);
    wrong = filter (k: knobTypes ? ${k} && !(knobTypes.${k} knobs.${k})) (attrNames knobs);
    img = knobs.image or {};
    imageUnknown = filter (k: !(imageKnobTypes ? ${k})) (attrNames img);
    imageWrong = filter (k: imageKnobTypes ? ${k} && img.${k} != null && !(imageKnobTypes.${k} img.${k})) (attrNames img);
  in
    if !(builtins.isAttrs knobs)
    then throw "${where} must be an attribute set"
    else if unknown != []
    then throw "${where} has unknown settings ${builtins.toJSON unknown} (known: ${builtins.toJSON (attrNames knobTypes)})"
    else if wrong != []
    then throw "${where} has settings of the wrong type or value: ${builtins.toJSON wrong}"
    else if imageUnknown != []
    then throw "${where}.image has unknown settings ${builtins.toJSON imageUnknown} (known: ${builtins.toJSON (attrNames imageKnobTypes)})"
    else if imageWrong != []
    then throw "${where}.image has settings of the wrong type or value: ${builtins.toJSON imageWrong} (entrypoint, cmd: lists of strings; ports: numbers or \"N/tcp\", \"N/udp\"; volumes: absolute paths; user: a user name)"
    else knobs;

  withoutNulls = set: builtins.removeAttrs set (filter (n: set.${n} == null) (attrNames set));

  lastOf = path: builtins.elemAt path (builtins.length path - 1);

  # A runtime library as the variants knob writes it (an attribute path, or { path; keep; }) ->
  # { path; keep; }, keep = null meaning the package's whole lib/.
  runtimeLibrary = entry:
    if builtins.isList entry
    then {
      path = entry;
      keep = null;
    }
    else if builtins.isAttrs entry && builtins.isList (entry.path or null) && builtins.isList (entry.keep or null) && entry.keep != []
    then {inherit (entry) path keep;}
    else throw "variants: a runtime library is an attribute path or { path = [...]; keep = [globs]; } with at least one glob";
in {
  inherit planFile image licences workspace vendor linuxSystems isLinux;

  # Files besides Cargo's own (.rs, .toml, Cargo.lock) that crates read at build time
  # (include_str!, shaders, kernels, migrations). Anything else (docs, CI) never reaches the build.
  sourceExtensions = ["wgsl" "glsl" "comp" "spv" "hlsl" "cu" "cuh" "ptx" "hip" "cl" "sql"];

  # The whole plan for one workspace: plan.json (cargo's side, generated) joined with the Nix-only
  # settings of each variant (mkFlake's variants and defaults knobs).
  #   layerDir:    the folder holding plan.json and the layer crate (nix/deps)
  #   nixVariants: variant name -> settings (nix/README.md, "Using it in your workspace")
  #   defaults:    settings for every variant, under each variant's own
  #   planData:    the parsed plan.json; read from layerDir unless given (tests pass fixtures)
  plan = {
    layerDir,
    nixVariants,
    defaults ? {},
    planData ?
      if builtins.pathExists (layerDir + "/plan.json")
      then builtins.fromJSON (builtins.readFile (layerDir + "/plan.json"))
      else throw "no plan.json in ${toString layerDir}: run `deps-layer generate` in the workspace (or set layerDir)",
  }: let
    cargoPlan = planFile.read {inherit planData layerDir;};
    cargoVariants = cargoPlan.variants;

    buildKnobs = attrNames buildDefaults;
    checkedDefaults = checkKnobs "defaults" defaults;
    # The defaults' build settings reach every crane derivation, the common layer's included.
    defaultBuild = buildDefaults // builtins.intersectAttrs buildDefaults checkedDefaults;

    own = mapAttrs (name: _: checkKnobs "variants.${name}" (nixVariants.${name} or {})) cargoVariants;
    meta = mapAttrs (_: knobs:
      metaDefaults
      // removeAttrs checkedDefaults buildKnobs
      // removeAttrs knobs buildKnobs
      // {image = withoutNulls (checkedDefaults.image or {}) // withoutNulls (knobs.image or {});})
    own;
    strayNixVariants = filter (n: !(cargoVariants ? ${n})) (attrNames nixVariants);

    one = name: let
      v = cargoVariants.${name};
      m = meta.${name};
      featured = v.features != [];
      cfg = m.nixpkgsConfig;
      build = buildDefaults // builtins.intersectAttrs buildDefaults own.${name};
    in
      if cargoPlan.layers.${v.layer}.stacksOn == null && build != buildDefaults
      then throw "variants.${name} sets ${builtins.toJSON (filter (k: build.${k} != buildDefaults.${k}) buildKnobs)}, but it builds on the `${v.layer}` layer, which every variant shares: put them in `defaults` (or give the variant features, and so a layer of its own)"
      else {
        inherit name;
        inherit (v) features layer cargoArgs cargoExtraArgs pname mainProgram outputs manifest;
        inherit (m) accelerator systems vulkanDrivers;
        runtimeLibraries = map runtimeLibrary m.runtimeLibraries;
        # The variant's own build settings, for its layer, package, checks and shell (the
        # defaults' come on top of every derivation, nix/outputs.nix).
        inherit build;
        # The image: the settings, with the user from image.user, else imageUser, else the
        # program it runs.
        image = image.settings (m.image
          // {
            user =
              if m.image ? user
              then m.image.user
              else if m.imageUser != null
              then m.imageUser
              else v.mainProgram;
          });
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
      then throw "variants: ${builtins.toJSON strayNixVariants} name no variant of plan.json (variants: ${builtins.toJSON (attrNames cargoVariants)})"
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
    # The build settings of a layer's derivation: those of the variants building on it (which
    # must agree), resolved in the first one's nixpkgs; none for a layer no variant builds on
    # directly.
    layerBuild = layer: let
      on = filter (n: all.${n}.layer == layer) names;
      builds = builtins.foldl' (acc: n:
        if elem all.${n}.build acc
        then acc
        else acc ++ [all.${n}.build]) []
      on;
    in
      if builtins.length builds > 1
      then throw "variants ${builtins.toJSON on} build on the layer `${layer}` but set different buildInputs, nativeBuildInputs or env; the layer can have only one"
      else if on == []
      then {
        variant = null;
        build = buildDefaults;
      }
      else {
        variant = builtins.head on;
        build = builtins.head builds;
      };
  in {
    variants = all;
    inherit (cargoPlan) profile layers;
    inherit systems namesOn layersOn layerBuild defaultBuild;

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
        ++ filter (n: n != "default") (out "package")
        ++ filter (n: !(elem n (map (l: cargoPlan.layers.${l}.output) (layersOn system)))) (map (n: "deps-${n}") on)
        ++ (
          if isLinux system
          then map (n: all.${n}.outputs.image) (filter (n: all.${n}.mainProgram != null) on)
          else []
        );
      devShells = ["default"] ++ filter (n: n != "default") (out "shell");
      checks =
        ["fmt" "audit" "deny" "deps-layer-check" "clippy" "nextest"]
        ++ concatMap (n: ["package-${n}" "clippy-${n}" "nextest-${n}"]) on;
    };
  };
}
