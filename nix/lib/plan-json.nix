# Reader of plan.json, which `deps-layer generate` writes next to the layer
# (schema: docs in nix/README.md, "The plan"). Every cargo decision (layers, their commands as
# crane runs them, what a variant builds, its names) is the plan's; this file only checks its
# shape, so Rust and Nix cannot disagree. Pure (builtins only).
let
  inherit
    (builtins)
    all
    attrNames
    concatStringsSep
    elem
    isAttrs
    isList
    isString
    mapAttrs
    ;

  fail = msg: throw "plan.json: ${msg}";

  isStringList = x: isList x && all isString x;
  isNullOrString = x: x == null || isString x;

  # The commands are read as lists (the plan's own check of its shape) and run as the plan
  # renders them for crane.
  checkCommands = where: commands:
    if !(isList commands) || !(all (c: isStringList c && c != []) commands)
    then fail "${where} must be a list of non-empty lists of strings"
    else commands;
  cranePhase = where: text:
    if isString text
    then text
    else fail "${where} must be a string; a plan without it is older than this nix/lib: regenerate with `deps-layer generate`";

  readLayer = layerDir: layers: name: l: let
    where = "layers.${name}";
  in
    if !(isAttrs l)
    then fail "${where} must be an object"
    else if !(isString (l.dir or null)) || !(isString (l.output or null))
    then fail "${where} needs the strings `dir` and `output`"
    else if !(isNullOrString (l.stacksOn or 0))
    then fail "${where}.stacksOn must be a layer name or null"
    else if (name == "common") != (l.stacksOn == null)
    then fail "${where}: only `common` stacks on nothing (stacksOn = ${builtins.toJSON l.stacksOn})"
    else if l.stacksOn != null && !(layers ? ${l.stacksOn})
    then fail "${where}.stacksOn names the unknown layer '${l.stacksOn}'"
    else {
      inherit name;
      inherit (l) output stacksOn;
      src =
        if l.dir == "."
        then layerDir
        else layerDir + "/${l.dir}";
      buildCommands = checkCommands "${where}.buildCommands" (l.buildCommands or null);
      checkCommands = checkCommands "${where}.checkCommands" (l.checkCommands or null);
      buildPhaseCargoCommand = cranePhase "${where}.buildPhaseCargoCommand" (l.buildPhaseCargoCommand or null);
      checkPhaseCargoCommand = cranePhase "${where}.checkPhaseCargoCommand" (l.checkPhaseCargoCommand or null);
    };

  outputKeys = ["package" "layer" "variantLayer" "image" "shell"];
  checkKeys = ["package" "clippy" "nextest" "layer"];

  readVariant = layers: name: v: let
    where = "variants.${name}";
  in
    if !(isAttrs v)
    then fail "${where} must be an object"
    else if !(isStringList (v.features or null)) || !(isStringList (v.cargoArgs or null))
    then fail "${where} needs the string lists `features` and `cargoArgs`"
    else if !(isString (v.layer or null)) || !(layers ? ${v.layer})
    then fail "${where}.layer must name a layer of `layers`"
    else if !(isString (v.pname or null)) || !(isNullOrString (v.mainProgram or 0))
    then fail "${where} needs a string `pname` and a string or null `mainProgram`"
    else if !(isAttrs (v.outputs or null)) || !(all (k: isString (v.outputs.${k} or null)) outputKeys)
    then fail "${where}.outputs needs the strings ${concatStringsSep ", " outputKeys}; a plan without them is older than this nix/lib: regenerate with `deps-layer generate`"
    else if !(isAttrs (v.outputs.checks or null)) || !(all (k: isString (v.outputs.checks.${k} or null)) checkKeys)
    then fail "${where}.outputs.checks needs the strings ${concatStringsSep ", " checkKeys}; regenerate with `deps-layer generate`"
    else if v.outputs.layer != layers.${v.layer}.output
    then fail "${where}.outputs.layer '${v.outputs.layer}' is not the output of its layer '${v.layer}'"
    else {
      inherit name;
      inherit (v) features cargoArgs pname mainProgram outputs;
      # the selected package's manifest, relative to the root (its version), or null
      manifest =
        if isNullOrString (v.manifest or null)
        then v.manifest or null
        else fail "${where}.manifest must be a path relative to the workspace root, or absent";
      layer = v.layer;
      cargoExtraArgs = cranePhase "${where}.cargoExtraArgs" (v.cargoExtraArgs or null);
      # absent in a plan older than member steps: the package is one derivation
      memberSteps = readMemberSteps where v.outputs.package (v.memberSteps or []);
    };

  # The chain of member steps: each names its members, output, owned paths and targets; the last
  # one's output is the package's.
  readMemberSteps = where: package: steps: let
    isStep = s:
      isAttrs s
      && isStringList (s.members or null)
      && isString (s.name or null)
      && isString (s.output or null)
      && isStringList (s.paths or null)
      && isList (s.targets or null)
      && all (t: isString (t.kind or null) && isString (t.path or null) && isString (t.name or null)) s.targets;
  in
    if !(isList steps) || !(all isStep steps)
    then fail "${where}.memberSteps must be a list of { members, name, output, paths, targets }"
    else if steps != [] && (builtins.elemAt steps (builtins.length steps - 1)).output != package
    then fail "${where}.memberSteps: the last step's output must be the package's, ${builtins.toJSON package}"
    else steps;
  # The opt-in checks over every member: on a layer of their own, never the common one (which
  # covers only what the variants build).
  readWorkspaceChecks = layers: w: let
    where = "workspaceChecks";
  in
    if w == null
    then null
    else if !(isAttrs w)
    then fail "${where} must be an object or absent"
    else if !(isString (w.layer or null)) || !(layers ? ${w.layer}) || layers.${w.layer}.stacksOn == null
    then fail "${where}.layer must name a layer of `layers` stacked on another"
    else if !(isStringList (w.cargoArgs or null))
    then fail "${where} needs the string list `cargoArgs`"
    else if !(isAttrs (w.outputs or null)) || !(all (k: isString (w.outputs.${k} or null)) ["clippy" "nextest"])
    then fail "${where}.outputs needs the strings clippy, nextest"
    else {
      inherit (w) layer cargoArgs outputs;
      cargoExtraArgs = cranePhase "${where}.cargoExtraArgs" (w.cargoExtraArgs or null);
    };
in {
  schema = 1;

  # The parsed plan.json and the folder holding it -> { profile; layers; variants;
  # workspaceChecks; members; } (workspaceChecks null when the plan has none), every entry checked.
  read = {
    planData,
    layerDir,
  }:
    if !(isAttrs planData)
    then fail "must be a JSON object"
    else if (planData.schema or null) != 1
    then fail "schema ${builtins.toJSON (planData.schema or null)} is not 1, the schema this nix/lib reads; regenerate with `deps-layer generate` or update the flake"
    else if !(isString (planData.profile or null))
    then fail "`profile` must be a string"
    else if !(isAttrs (planData.layers or null)) || !(planData.layers ? common)
    then fail "`layers` must be an object with a `common` layer"
    else if !(isAttrs (planData.variants or null)) || attrNames planData.variants == []
    then fail "`variants` must be an object with at least one variant"
    else let
      layers = mapAttrs (readLayer layerDir planData.layers) planData.layers;
      variants = mapAttrs (readVariant layers) planData.variants;
      workspaceChecks = readWorkspaceChecks layers (planData.workspaceChecks or null);
      members = planData.members or {};
      packageNames = map (n: variants.${n}.outputs.package) (attrNames variants);
      # A sole variant may be the default package itself (a workspace without a variants table
      # gets one, named `default`); beside others, `default` is the flake's choice among them.
      sole = builtins.length packageNames == 1;
      reserved =
        (
          if sole
          then []
          else ["default"]
        )
        ++ map (n: layers.${n}.output) (attrNames layers);
      clash = builtins.filter (p: elem p reserved) packageNames;
    in
      if clash != []
      then fail "package output names ${builtins.toJSON clash} clash with `default` or a layer's output"
      else {
        inherit (planData) profile;
        inherit layers variants workspaceChecks;
        # package name -> manifest relative to the root ({} in a plan older than the field)
        members =
          if isAttrs members && all isString (builtins.attrValues members)
          then members
          else fail "`members` must map package names to manifest paths";
      };
}
