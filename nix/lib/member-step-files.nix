# Which files a member step's source holds (nix/member-steps.nix), from plan.json's
# `memberSteps` (each step's `paths`, relative to the workspace root). A file belongs to the path
# that holds it most closely; a file no path holds belongs to the first step, so a change to it
# rebuilds the whole chain (safe). The folders of the workspace's other members (those the
# variant does not compile: a fuzz crate inside a member's folder) are paths too, held by every
# step, since cargo loads every member's manifest and targets to resolve the workspace. Step
# INDEX holds what no path holds, the files of its own and the earlier steps' paths, the other
# members' folders and the later members' manifests.
#
# Each path's files form one piece, a store path of its own shared by every step that holds it:
# the workspace is walked and hashed once per evaluation, not once per step. Pure (builtins only).
let
  inherit (builtins) attrNames concatMap dirOf elem filter genList length listToAttrs;
  inside = outer: path: builtins.substring 0 (builtins.stringLength outer + 1) path == "${outer}/";
  pathsOf = steps: i: (builtins.elemAt steps i).paths;
in {
  # plan.json's `members` (name -> manifest), steps -> the folders, relative to the root, of the
  # members no step compiles (the root's is left out: it holds everything)
  otherMembers = members: steps: let
    stepMembers = concatMap (step: step.members) steps;
  in
    filter (folder: folder != ".") (map (name: dirOf members.${name})
      (filter (name: !elem name stepMembers) (attrNames members)));

  # steps, others (otherMembers) -> every path that has a piece, each once
  piecePaths = steps: others:
    attrNames (listToAttrs (map (name: {
      inherit name;
      value = null;
    }) (concatMap (step: step.paths) steps ++ others)));

  # paths (piecePaths), path -> the paths inside it, whose own pieces hold their files
  nestedIn = paths: path: filter (inside path) paths;

  # steps, others, index -> { pieces; manifests; }: the paths whose pieces step INDEX holds (its
  # own and the earlier steps', and the other members' folders), and the later steps' manifests
  stepPieces = steps: others: index: {
    pieces = concatMap (pathsOf steps) (genList (i: i) (index + 1)) ++ others;
    manifests =
      map (path: "${path}/Cargo.toml")
      (concatMap (pathsOf steps) (genList (i: index + 1 + i) (length steps - index - 1)));
  };
}
