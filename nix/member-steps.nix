# A variant's chain of member steps (plan.json's `memberSteps`, nix/lib's `memberSteps`): one
# derivation per member in the plan's order, each on the previous step's artifacts (the first on
# the variant's layer), running the variant's full cargo build with the real files of its member
# and those before it; `deps-layer member-step` gives the later members stand-in targets and
# marks the step's own files as modified, so cargo compiles that member again (Nix gives every
# file the same time). An edit changes the source of its member's step and of those after it,
# never one before. Returns the step the package builds on, and every step by output name.
{
  lib,
  craneLib,
  # the workspace's deps-layer (nix/tool-package.nix)
  tool,
  # the variant's crane arguments: commonArgs with pname, version, cargoExtraArgs
  args,
  # the workspace source (nix/source.nix): its fileset and root, which each step narrows
  src,
  root,
  # the variant's layer, where the first step starts
  layer,
  # the variant's record (nix/lib/variant-records.nix)
  record,
  # `deps-layer layer-report` on $cargoBuildLog, as the package and checks run it
  reportCommand,
}: let
  inherit (lib) fileset;
  inherit ((import ./lib).shellWords) escapeShellArg;
  steps = record.memberSteps;
  # Without the output names, which do not change what a step compiles: a variant without
  # features keeps cpu's very derivations.
  stepsJSON = builtins.toJSON (map (step: removeAttrs step ["output"]) steps);
  files = (import ./lib).memberStepFiles;

  # The source of step INDEX: the workspace's files minus those the later members own, with
  # their manifests kept so that cargo resolves the same graph.
  sourceOf = index: let
    plan = files.stepPaths steps index;
    at = path: fileset.maybeMissing (root + "/${path}");
  in
    fileset.toSource {
      inherit root;
      fileset = fileset.unions [
        (fileset.difference src.fileset (fileset.unions (map at plan.excluded)))
        (fileset.intersection src.fileset (fileset.unions (map at (plan.retained ++ plan.manifests))))
      ];
    };

  # Prepares step INDEX in the unpacked source (the package runs the last index itself).
  stageCommand = index: ''
    ${tool.meta.mainProgram} member-step --index ${toString index} --steps ${escapeShellArg stepsJSON}
  '';

  stepOf = index: previous: let
    step = builtins.elemAt steps index;
  in
    craneLib.mkCargoDerivation (args
      // {
        src = sourceOf index;
        pname = "${record.pname}-member-${step.name}";
        cargoArtifacts = previous;
        doInstallCargoArtifacts = true;
        buildPhaseCargoCommand = ''
          ${stageCommand index}
          cargoBuildLog=$(mktemp cargoBuildLogXXXX.json)
          cargoWithProfile build ${record.cargoExtraArgs} --message-format json-render-diagnostics >"$cargoBuildLog"
          ${reportCommand "warn" ""}
        '';
        nativeBuildInputs = (args.nativeBuildInputs or []) ++ [tool];
      });

  # Every step but the last, each on the one before.
  built =
    builtins.foldl' (acc: index: acc ++ [(stepOf index (lib.last acc))]) [layer]
    (lib.range 0 (builtins.length steps - 2));
in {
  # the artifacts the package starts from, and its own staging
  last = lib.last built;
  packageStage = stageCommand (builtins.length steps - 1);
  byOutput = builtins.listToAttrs (lib.imap0 (index: step: lib.nameValuePair (builtins.elemAt steps index).output step) (lib.tail built));
}
