# Where a vendor set puts git sources. crane names a git source's folder after the sha256 of its
# source id (URL with its branch, tag or rev query), not the commit the lock pins: two revisions
# of one branch would share a folder, and nix/vendor-at-fixed-path.sh presents folders at a path
# shared by every build of a user. The folder is renamed to carry the locked revision.
let
  inherit (builtins) filter foldl' hashString head length elemAt split substring stringLength;

  hasPrefix = prefix: s: substring 0 (stringLength prefix) s == prefix;
  removePrefix = prefix: s:
    if hasPrefix prefix s
    then substring (stringLength prefix) (stringLength s - stringLength prefix) s
    else s;

  # A lock package's git source: crane's folder name and the locked revision.
  gitSourceOf = decode: package: let
    source = removePrefix "git+" (decode package.source);
    parts = split "#" source;
    id = head parts;
  in
    if length parts != 3
    then throw "Cargo.lock names no locked revision for ${package.name} ${package.version} (${package.source}): run `cargo update -p ${package.name}`"
    else {
      inherit id;
      folder = hashString "sha256" id;
      rev = elemAt parts 2;
    };
in {
  # { packages: the [[package]] entries of the set's locks; decode: crane's percent-decoding of a
  #   lock URL } -> [{ folder: crane's name; keyed: the name in the set }], one per git source.
  # One set holds one checkout per source id, as crane's vendoring does: the same id locked at two
  # revisions in the set's locks is an error naming both.
  gitFolders = {
    packages,
    decode,
  }: let
    sources = map (gitSourceOf decode) (filter (p: hasPrefix "git+" (p.source or "")) packages);
    byFolder =
      foldl' (
        acc: s:
          if !(acc ? ${s.folder})
          then acc // {${s.folder} = s;}
          else if acc.${s.folder}.rev == s.rev
          then acc
          else throw "git source ${s.id} is locked at two revisions in one vendor set: ${acc.${s.folder}.rev} and ${s.rev}"
      ) {}
      sources;
  in
    map (folder: {
      inherit folder;
      keyed = "${folder}-${byFolder.${folder}.rev}";
    }) (builtins.attrNames byFolder);
}
