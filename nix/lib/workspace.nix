# What the flake reads from the workspace root itself: the version its packages carry and where
# the Rust toolchain comes from. Pure (builtins only): the caller reads the files, these functions
# decide, so nix/tests/lib.nix can check every case without a workspace on disk.
let
  inherit (builtins) elem isAttrs isString match;

  # A field of the root package that may say `{ workspace = true; }` instead of a value.
  fieldOf = manifest: name: let
    fromWorkspace = manifest.workspace.package.${name} or null;
    fromPackage = manifest.package.${name} or null;
  in
    if fromWorkspace != null
    then fromWorkspace
    else if isAttrs fromPackage
    then null
    else fromPackage;

  # rust-overlay names stable releases "X.Y.Z"; Cargo's rust-version may omit the patch.
  releaseOf = rustVersion: let
    full = match "([0-9]+)\\.([0-9]+)\\.([0-9]+)" rustVersion;
    short = match "([0-9]+)\\.([0-9]+)" rustVersion;
  in
    if full != null
    then rustVersion
    else if short != null
    then "${rustVersion}.0"
    else throw "Cargo.toml: rust-version \"${rustVersion}\" is not X.Y or X.Y.Z";
in {
  inherit releaseOf;

  toolchainFiles = ["rust-toolchain.toml" "rust-toolchain"];

  # The parsed root Cargo.toml -> the version of the packages: workspace.package.version, else
  # package.version, else "0.0.0".
  version = manifest: let
    v = fieldOf manifest "version";
  in
    if isString v
    then v
    else "0.0.0";

  # The version of one package: its manifest's `version`, the root's workspace.package.version
  # where it says `version.workspace = true`, and the root's version (above) where it has none.
  packageVersion = {
    root,
    package,
  }: let
    own = package.package.version or null;
  in
    if isString own
    then own
    else if isAttrs own && (own.workspace or false) && isString (root.workspace.package.version or null)
    then root.workspace.package.version
    else let
      v = fieldOf root "version";
    in
      if isString v
      then v
      else "0.0.0";

  # The parsed root Cargo.toml -> its rust-version, or null.
  rustVersion = manifest: let
    v = fieldOf manifest "rust-version";
  in
    if isString v
    then v
    else null;

  # Where the toolchain comes from, rustup's order first:
  #   files:    the names of toolchainFiles present at the root
  #   manifest: the parsed root Cargo.toml
  # -> { source = "file"; file; } | { source = "release"; release = "X.Y.Z"; } | { source = "latest"; }
  # A toolchain file is taken as written; the other two get clippy and rustfmt added, which the
  # checks need.
  toolchain = {
    files,
    manifest,
  }: let
    rv = fieldOf manifest "rust-version";
  in
    if elem "rust-toolchain.toml" files
    then {
      source = "file";
      file = "rust-toolchain.toml";
    }
    else if elem "rust-toolchain" files
    then {
      source = "file";
      file = "rust-toolchain";
    }
    else if isString rv
    then {
      source = "release";
      release = releaseOf rv;
    }
    else {source = "latest";};
}
