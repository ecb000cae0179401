# Which files a member step's source holds (nix/member-steps.nix), from plan.json's
# `memberSteps` (each step's `paths`, relative to the workspace root). A file belongs to the step
# whose path holds it most closely; a file no step's path holds belongs to the first step, so a
# change to it rebuilds the whole chain (safe). Step INDEX holds everything but what the later
# steps own, and the later members' manifests. Pure (builtins only).
let
  inherit (builtins) concatMap filter any elemAt genList length;
  inside = outer: path: builtins.substring 0 (builtins.stringLength outer + 1) path == "${outer}/";
in {
  # steps, index -> { excluded; retained; manifests; }, each a list of paths relative to the
  # root: drop `excluded`, keep `retained` (an earlier step's path inside an excluded one) and
  # `manifests`.
  stepPaths = steps: index: let
    pathsOf = i: (elemAt steps i).paths;
    later = concatMap pathsOf (genList (i: index + 1 + i) (length steps - index - 1));
    earlier = concatMap pathsOf (genList (i: i) (index + 1));
  in {
    excluded = later;
    retained = filter (path: any (outer: inside outer path) later) earlier;
    manifests = map (path: "${path}/Cargo.toml") later;
  };
}
