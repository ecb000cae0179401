# The variants table of the root Cargo.toml and every per-variant cargo decision derived from it.
# Pure (builtins only): the flake and deps-layer read the same table, so a variant's feature set is
# written down once.
let
  inherit
    (builtins)
    all
    attrNames
    concatStringsSep
    filter
    fromTOML
    isAttrs
    isList
    isString
    mapAttrs
    match
    ;

  fail = msg: throw "Cargo.toml [workspace.metadata.variants]: ${msg}";

  validName = name: match "[a-z0-9][a-z0-9_-]*" name != null && name != "common";

  checkVariant = name: value:
    if !(validName name)
    then fail "variant name '${name}' must match [a-z0-9][a-z0-9_-]* and must not be 'common' (the shared layer's name)"
    else if !(isAttrs value)
    then fail "variant '${name}' must be a table with a `features` list"
    else if !(isList (value.features or null))
    then fail "variant '${name}' has no `features` list (use `features = []` for none)"
    else if !(all isString value.features)
    then fail "variant '${name}': every feature must be a string"
    else {inherit (value) features;};

  joinWords = words: concatStringsSep " " (filter (w: w != "") words);
in rec {
  # Cargo.toml text -> { <variant> = { features = [ ... ]; }; }. A workspace without the table gets
  # the single variant `default`, as deps-layer does.
  fromCargoToml = text: let
    table = (fromTOML text).workspace.metadata.variants or null;
  in
    if table == null
    then {default = {features = [];};}
    else if !(isAttrs table)
    then fail "must be a table of variants"
    else if attrNames table == []
    then fail "is empty; declare at least one variant"
    else mapAttrs checkVariant table;

  hasFeatures = variant: variant.features != [];

  # The layer a variant's package builds on. Without features it needs nothing beyond the common
  # layer, so it shares that layer (and, with it, every downstream derivation) with the others.
  layerName = name: variant:
    if hasFeatures variant
    then "deps-${name}"
    else "deps-common";

  # deps-layer names the synthetic crate's feature for a variant after the variant.
  layerFeatureFlags = name: variant:
    if hasFeatures variant
    then "--features ${name}"
    else "";

  # The real build's flags. The whole workspace is built, because deps-layer generates the layer
  # for the whole workspace's selection (per-package selection would unify features differently).
  cargoExtraArgs = variant:
    joinWords [
      "--locked"
      "--workspace"
      (
        if hasFeatures variant
        then "--features ${concatStringsSep "," variant.features}"
        else ""
      )
    ];

  # The three cargo commands crane's buildDepsOnly runs (lib/buildDepsOnly.nix), with the variant's
  # layer feature; a stacked layer must compile exactly what buildDepsOnly would.
  layerCommands = name: variant: let
    extra = joinWords ["--locked" (layerFeatureFlags name variant)];
  in {
    build = ''
      cargoWithProfile check ${extra} --all-targets
      cargoWithProfile build ${extra}
    '';
    check = ''
      cargoWithProfile test ${extra} --no-run
    '';
  };

  # Names shown in store paths. Feature-less variants share cpu's names so their derivations stay
  # identical; the others say which variant they are.
  packageName = name: variant: payload:
    if hasFeatures variant
    then "${payload}-${name}"
    else payload;
}
