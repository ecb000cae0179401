# One resolved record per variant: plan.json (cargo's side, generated) joined with the variant's
# Nix settings (mkFlake's `variants` and `defaults`, nix/lib/variant-settings.nix). A record holds
# everything the derivations of a variant are made from: its layer stack, nixpkgs config, build
# settings, version, runtime libraries, image settings and every output name; nothing else
# composes a name. Pure (builtins only): attribute paths stay paths until nix/variant-outputs.nix
# looks them up in nixpkgs.
#   layerDir:    the folder holding plan.json and the layer crate (nix/deps)
#   nixVariants: variant name -> settings
#   defaults:    settings for every variant, under each variant's own
#   root:        the workspace root, for the selected package's version; null: no version
#   layerMiss:   what a package build that compiled an external unit again does: "warn" (it
#                says so; the variant's layer check fails), "error" (the build fails) or "off"
#   memberLayers: whether a package is built as its chain of member steps (plan.json's
#                memberSteps) when it has two or more
#   planData:    the parsed plan.json; read from layerDir unless given (tests pass fixtures)
{
  layerDir,
  nixVariants,
  defaults ? {},
  root ? null,
  layerMiss ? "warn",
  memberLayers ? true,
  planData ?
    if builtins.pathExists (layerDir + "/plan.json")
    then builtins.fromJSON (builtins.readFile (layerDir + "/plan.json"))
    else throw "no plan.json in ${toString layerDir}: run `deps-layer generate` in the workspace (or set layerDir)",
}: let
  inherit (builtins) attrNames concatMap elem filter mapAttrs;

  planJson = import ./plan-json.nix;
  imageSettings = import ./image-settings.nix;
  settings = import ./variant-settings.nix;
  licences = import ./licences.nix;
  workspace = import ./workspace.nix;
  platforms = import ./platforms.nix;

  # An entry of the variants knob (or the defaults knob): known settings of the right type only,
  # so a typo fails here instead of being ignored. `where` names the entry in messages.
  checkKnobs = where: knobs: let
    known = settings.variant;
    unknown = filter (k: !(known ? ${k})) (attrNames knobs);
    wrong = filter (k: known ? ${k} && !(known.${k}.valid knobs.${k})) (attrNames knobs);
    img = knobs.image or {};
    imageUnknown = filter (k: !(settings.image ? ${k})) (attrNames img);
    imageWrong = filter (k: settings.image ? ${k} && img.${k} != null && !(settings.image.${k}.valid img.${k})) (attrNames img);
  in
    if !(builtins.isAttrs knobs)
    then throw "${where} must be an attribute set"
    else if unknown != []
    then throw "${where} has unknown settings ${builtins.toJSON unknown} (known: ${builtins.toJSON (attrNames known)})"
    else if wrong != []
    then throw "${where} has settings of the wrong type or value: ${builtins.toJSON wrong}"
    else if imageUnknown != []
    then throw "${where}.image has unknown settings ${builtins.toJSON imageUnknown} (known: ${builtins.toJSON (attrNames settings.image)})"
    else if imageWrong != []
    then throw "${where}.image has settings of the wrong type or value: ${builtins.toJSON imageWrong} (entrypoint, cmd: lists of strings; ports: numbers or \"N/tcp\", \"N/udp\"; volumes: absolute paths; user: a user name)"
    else knobs;

  withoutNulls = set: builtins.removeAttrs set (filter (n: set.${n} == null) (attrNames set));
  lastOf = path: builtins.elemAt path (builtins.length path - 1);
  # The package a build input's attribute path names: the one in its set
  # (["cudaPackages" "libcublas" "static"] -> "libcublas"), or the path's one name.
  packageOf = path:
    if builtins.length path >= 2
    then builtins.elemAt path 1
    else builtins.head path;

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

  cargoPlan = planJson.read {inherit planData layerDir;};
  cargoVariants = cargoPlan.variants;

  buildKnobs = attrNames settings.buildDefaults;
  checkedDefaults = checkKnobs "defaults" defaults;
  # The defaults' build settings reach every crane derivation, the common layer's included.
  defaultBuild = settings.buildDefaults // builtins.intersectAttrs settings.buildDefaults checkedDefaults;

  own = mapAttrs (name: _: checkKnobs "variants.${name}" (nixVariants.${name} or {})) cargoVariants;
  strayNixVariants = filter (n: !(cargoVariants ? ${n})) (attrNames nixVariants);

  # The layers a layer stacks on, the common one first, and the layer itself last.
  stackOf = name: let
    l = cargoPlan.layers.${name};
  in
    (
      if l.stacksOn == null
      then []
      else stackOf l.stacksOn
    )
    ++ [name];

  workspaceManifest = builtins.fromTOML (builtins.readFile (root + "/Cargo.toml"));
  versionOf = manifest:
    if root == null
    then null
    else if manifest == null
    then workspace.version workspaceManifest
    else
      workspace.packageVersion {
        root = workspaceManifest;
        package = builtins.fromTOML (builtins.readFile (root + "/${manifest}"));
      };

  # Environment that follows from settings the variant already has, under its own `env`: for
  # an NVIDIA variant with a layer of its own, CUDA_COMPUTE_CAP (read by build scripts that
  # compile CUDA kernels, e.g. bindgen_cuda's; in a sandbox they cannot ask nvidia-smi) is the
  # lowest of nixpkgsConfig.cudaCapabilities, whose PTX the driver compiles for newer GPUs.
  derivedEnv = m: featured: let
    # "8.6" -> 86, "9.0a" -> 90
    number = capability: let
      parts = builtins.match "([0-9]+)\\.([0-9]).*" capability;
    in
      if parts == null
      then throw "variants: the CUDA capability ${builtins.toJSON capability} is not of the form \"8.6\""
      else builtins.fromJSON (builtins.elemAt parts 0) * 10 + builtins.fromJSON (builtins.elemAt parts 1);
    numbers = map number (m.nixpkgsConfig.cudaCapabilities or []);
  in
    if m.accelerator == "nvidia" && featured && numbers != []
    then {CUDA_COMPUTE_CAP = toString (builtins.head (builtins.sort builtins.lessThan numbers));}
    else {};

  record = name: let
    v = cargoVariants.${name};
    m =
      settings.variantDefaults
      // removeAttrs checkedDefaults buildKnobs
      // removeAttrs own.${name} buildKnobs
      // {image = withoutNulls (checkedDefaults.image or {}) // withoutNulls (own.${name}.image or {});};
    featured = v.features != [];
    cfg = m.nixpkgsConfig;
    given = settings.buildDefaults // builtins.intersectAttrs settings.buildDefaults own.${name};
    build = given // {env = derivedEnv m featured // given.env;};
  in
    if cargoPlan.layers.${v.layer}.stacksOn == null && build != settings.buildDefaults
    then throw "variants.${name} sets ${builtins.toJSON (filter (k: build.${k} != settings.buildDefaults.${k}) buildKnobs)}, but it builds on the `${v.layer}` layer, which every variant shares: put them in `defaults` (or give the variant features, and so a layer of its own)"
    else {
      inherit name;
      inherit (v) features layer cargoArgs cargoExtraArgs pname mainProgram outputs manifest;
      # The chain the package is built as: the plan's member steps, when on and two or more.
      memberSteps =
        if memberLayers && builtins.length v.memberSteps >= 2
        then v.memberSteps
        else [];
      inherit (m) accelerator systems vulkanDrivers;
      layerStack = stackOf v.layer;
      version = versionOf v.manifest;
      runtimeLibraries = map runtimeLibrary m.runtimeLibraries;
      # The variant's own build settings, for its layer, package, checks and shell (the
      # defaults' come on top of every derivation: `defaultBuild`).
      inherit build;
      # The image: the settings, with the user from image.user, else imageUser, else the
      # program it runs.
      image = imageSettings.settings (m.image
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
            then {allowUnfreePredicate = licences.unfreePredicate m.unfree (map (e: lastOf (runtimeLibrary e).path) m.runtimeLibraries ++ map packageOf (build.buildInputs ++ build.nativeBuildInputs));}
            else {}
          );
    };

  records =
    if strayNixVariants != []
    then throw "variants: ${builtins.toJSON strayNixVariants} name no variant of plan.json (variants: ${builtins.toJSON (attrNames cargoVariants)})"
    else mapAttrs (name: _: record name) cargoVariants;
  names = attrNames records;
  namesOn = system: filter (n: elem system records.${n}.systems) names;
  # Which records of a system have an image: those with one program, on Linux.
  hasImage = system: name: platforms.isLinux system && records.${name}.mainProgram != null;
  # The layers the variants on a system build on, with what they stack on.
  layersOn = system: filter (l: elem l (concatMap (n: records.${n}.layerStack) (namesOn system) ++ ["common"] ++ workspaceLayers)) (attrNames cargoPlan.layers);

  # The build settings of a layer's derivation: those of the variants building on it (which
  # must agree), resolved in the first one's nixpkgs; none for a layer no variant builds on
  # directly.
  layerBuild = layer: let
    on = filter (n: records.${n}.layer == layer) names;
    builds = builtins.foldl' (acc: n:
      if elem records.${n}.build acc
      then acc
      else acc ++ [records.${n}.build]) []
    on;
  in
    if builtins.length builds > 1
    then throw "variants ${builtins.toJSON on} build on the layer `${layer}` but set different buildInputs, nativeBuildInputs or env; the layer can have only one"
    else if on == []
    then {
      variant = null;
      build = settings.buildDefaults;
    }
    else {
      variant = builtins.head on;
      build = builtins.head builds;
    };

  # The default package and shell: cpu when declared, else the first variant.
  defaultVariant = system: let
    on = namesOn system;
  in
    if elem "cpu" on
    then "cpu"
    else builtins.head on;

  # The opt-in clippy and nextest over every member (plan.json's `workspaceChecks`: layer, cargo
  # arguments, names), or null.
  workspaceWide = cargoPlan.workspaceChecks;
  workspaceLayers =
    if workspaceWide == null
    then []
    else stackOf workspaceWide.layer;
  # The checks over the whole workspace, beside each variant's `outputs.checks`.
  workspaceChecks =
    ["fmt" "audit" "deny" "deps-layer-check"]
    ++ (
      if workspaceWide == null
      then []
      else [workspaceWide.outputs.clippy workspaceWide.outputs.nextest]
    );
  onMiss =
    if elem layerMiss ["warn" "error" "off"]
    then layerMiss
    else throw "layerMiss must be \"warn\", \"error\" or \"off\", not ${builtins.toJSON layerMiss}";
  # Each variant's checks; its layer check reads what its package reported.
  variantChecks =
    ["package" "clippy" "nextest"]
    ++ (
      if onMiss == "off"
      then []
      else ["layer"]
    );
  # Every member step but each chain's last, which is the package itself.
  allButLast = list:
    if list == []
    then []
    else builtins.genList (builtins.elemAt list) (builtins.length list - 1);
  memberStepOutputs = on: concatMap (n: map (step: step.output) (allButLast records.${n}.memberSteps)) on;
  # A check name given twice would lose one of the checks.
  checkNames = on: let
    all = workspaceChecks ++ concatMap (n: map (kind: records.${n}.outputs.checks.${kind}) variantChecks) on;
    twice = filter (c: builtins.length (filter (d: d == c) all) > 1) all;
  in
    if twice != []
    then
      throw "plan.json: the check names ${builtins.toJSON (attrNames (builtins.listToAttrs (map (c: {
          name = c;
          value = null;
        })
        twice)))} are given twice (workspaceChecks.outputs and a variant's outputs.checks, or fmt, audit, deny, deps-layer-check)"
    else all;
in {
  variants = records;
  # plan.json as read, for tools that group outputs by variant (cache-report)
  inherit planData;
  inherit (cargoPlan) profile layers members;
  inherit namesOn layersOn layerBuild defaultBuild defaultVariant hasImage workspaceWide workspaceChecks variantChecks;
  layerMiss = onMiss;
  systems = filter (s: namesOn s != []) platforms.all;

  # Every output name per system, as the flake has them.
  outputs = system: let
    on = namesOn system;
    out = kind: map (n: records.${n}.outputs.${kind}) on;
    layerOutputs = map (l: cargoPlan.layers.${l}.output) (layersOn system);
  in {
    packages =
      ["default"]
      ++ layerOutputs
      ++ filter (n: n != "default") (out "package")
      ++ filter (n: !(elem n layerOutputs)) (out "variantLayer")
      ++ map (n: records.${n}.outputs.image) (filter (hasImage system) on)
      ++ memberStepOutputs on;
    devShells = ["default"] ++ filter (n: n != "default") (out "shell");
    checks = checkNames on;
  };
}
