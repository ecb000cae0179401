# Baselines the layer is measured against, never built by CI: crane's default deps derivation,
# whose dummy source keeps the workspace's manifests and lock (member names and versions).
#   nix build .#legacyPackages.x86_64-linux.comparison.deps-crane-default
{craneLib}: {
  deps-crane-default = craneLib.buildDepsOnly {
    src = craneLib.cleanCargoSource ../.;
    pname = "workspace";
    strictDeps = true;
  };
}
