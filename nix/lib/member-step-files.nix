# Which files a member step's source holds (nix/member-steps.nix), from plan.json's
# `memberSteps` (each step's `paths`, relative to the workspace root). A file belongs to the step
# whose path holds it most closely; a file no step's path holds belongs to the first step, so a
# change to it rebuilds the whole chain (safe). Step INDEX holds everything but what the later
# steps own, and the later members' manifests. The folders of the workspace's other members
# (those the variant does not compile: a fuzz crate inside a member's folder) are no step's:
# every step holds them whole, since cargo loads every member's manifest and targets to resolve
# the workspace. Pure (builtins only).
let
  inherit (builtins) attrNames concatMap dirOf elem filter any elemAt genList length;
  inside = outer: path: builtins.substring 0 (builtins.stringLength outer + 1) path == "${outer}/";
in {
  # plan.json's `members` (name -> manifest), steps -> the folders, relative to the root, of the
  # members no step compiles (the root's is left out: it holds everything)
  otherMembers = members: steps: let
    stepMembers = concatMap (step: step.members) steps;
  in
    filter (folder: folder != ".") (map (name: dirOf members.${name})
      (filter (name: !elem name stepMembers) (attrNames members)));

  # steps, others (otherMembers), index -> { excluded; retained; manifests; }, each a list of
  # paths relative to the root: drop `excluded`, keep `retained` (an earlier step's path or
  # another member's folder inside an excluded one) and `manifests`.
  stepPaths = steps: others: index: let
    pathsOf = i: (elemAt steps i).paths;
    later = concatMap pathsOf (genList (i: index + 1 + i) (length steps - index - 1));
    earlier = concatMap pathsOf (genList (i: i) (index + 1));
  in {
    excluded = later;
    retained = filter (path: any (outer: inside outer path) later) (earlier ++ others);
    manifests = map (path: "${path}/Cargo.toml") later;
  };
}
