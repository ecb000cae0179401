# A variant's chain of member steps (plan.json's `memberSteps`, nix/lib's `memberSteps`): one
# derivation per member in the plan's order, each on the previous step's artifacts (the first on
# the variant's layer), running the variant's full cargo build with the real files of its member
# and those before it; `deps-layer member-step` gives the later members stand-in targets and
# removes cargo's record of the step's own units, so cargo compiles that member again (Nix gives
# every file the same time). An edit changes the source of its member's step and of those after it,
# never one before. A step's target folder starts from the previous step's stored one with links
# for what its build never writes (the layer's units, the earlier members' libraries) and stores
# only what it built beside links: no step decompresses the layer or the steps before it.
# Returns the step the package builds on, and every step by output name.
{
  lib,
  craneLib,
  runCommand,
  zstd,
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
  # plan.json's `members` (name -> manifest): every member of the workspace
  members,
  # `deps-layer layer-report` on $cargoBuildLog, as the package and checks run it, and what a
  # miss does (records.layerMiss: "warn", "error", or "off" for no report)
  reportCommand,
  layerMiss,
}: let
  inherit (lib) fileset;
  inherit ((import ./lib).shellWords) escapeShellArg;
  steps = record.memberSteps;
  # Without the output names, which do not change what a step compiles: a variant without
  # features keeps cpu's very derivations.
  stepsJSON = builtins.toJSON (map (step: removeAttrs step ["output"]) steps);
  files = (import ./lib).memberStepFiles;
  others = files.otherMembers members steps;

  # Each path's own files (those no path inside it holds) as one store path, made once per
  # evaluation and shared by the steps: walking and hashing the workspace once per step took
  # seconds of every evaluation on a large workspace.
  paths = files.piecePaths steps others;
  at = path: fileset.maybeMissing (root + "/${path}");
  within = set:
    fileset.toSource {
      inherit root;
      fileset = fileset.intersection src.fileset set;
    };
  # named after what they hold, so that a step's log says which it copies
  stored = name: set:
    lib.sources.cleanSourceWith {
      name = lib.strings.sanitizeDerivationName "${record.pname}-${name}";
      src = within set;
    };
  pieces = lib.genAttrs paths (path: stored path (fileset.difference (at path) (fileset.unions (map at (files.nestedIn paths path)))));
  # What no path holds: every step's, the first one's to rebuild. Unpacked where the package's
  # source is (/build/source): cargo's units of path crates are keyed by their absolute paths.
  unowned = within (fileset.difference src.fileset (fileset.unions (map at paths)));

  # Step INDEX's source: the unowned files, unpacked by stdenv, and its pieces extracted over
  # them with their times (cargo judges freshness by them), writable as stdenv makes its source:
  # each piece's folders set the times of those they share back to the store's.
  stepSource = index: let
    plan = files.stepPieces steps others index;
  in {
    src = unowned;
    postUnpack =
      (args.postUnpack or "")
      + ''
        for piece in ${lib.concatMapStringsSep " " (path: "${pieces.${path}}") plan.pieces} ${stored "later-manifests" (fileset.unions (map at plan.manifests))}; do
          tar -C "$piece" --mode=u+w -cf - . | tar -C "$sourceRoot" -xf -
        done
      '';
  };

  # The layer as a folder, which the first step links to.
  unpackedLayer = import ./unpacked-layer.nix {inherit runCommand zstd layer;};

  # Prepares step INDEX in the unpacked source, its target folder starting from PREVIOUS's
  # stored one (the package runs the last index itself).
  stageCommand = index: previous: ''
    ${tool.meta.mainProgram} member-step --index ${toString index} --steps ${escapeShellArg stepsJSON} \
      --link-from ${previous}/target --target "''${CARGO_TARGET_DIR:-target}"
  '';

  stepOf = index: previous: let
    step = builtins.elemAt steps index;
  in
    craneLib.mkCargoDerivation (args
      // {
        inherit (stepSource index) src postUnpack;
        pname = "${record.pname}-member-${step.name}";
        # carried by linking (stageCommand), not by crane's archives
        cargoArtifacts = null;
        doInstallCargoArtifacts = false;
        buildPhaseCargoCommand =
          stageCommand index previous
          + (
            if layerMiss == "off"
            then ''
              cargoWithProfile build ${record.cargoExtraArgs}
            ''
            else ''
              cargoBuildLog=$(mktemp cargoBuildLogXXXX.json)
              cargoWithProfile build ${record.cargoExtraArgs} --message-format json-render-diagnostics >"$cargoBuildLog"
              ${reportCommand layerMiss ""}
            ''
          );
        # A step's output is a target folder for the next step, never run: stdenv's fixup would
        # only walk its thousands of links one process each (seconds a step).
        dontFixup = true;
        installPhaseCommand = ''
          ${tool.meta.mainProgram} link-unchanged --previous ${previous}/target --target "''${CARGO_TARGET_DIR:-target}"
          mkdir -p "$out"
          mv "''${CARGO_TARGET_DIR:-target}" "$out/target"
        '';
        nativeBuildInputs = (args.nativeBuildInputs or []) ++ [tool];
      });

  # Every step but the last, each on the one before.
  built =
    builtins.foldl' (acc: index: acc ++ [(stepOf index (lib.last acc))]) [unpackedLayer]
    (lib.range 0 (builtins.length steps - 2));
in {
  # the package's staging, which carries the last step's artifacts
  packageStage = stageCommand (builtins.length steps - 1) (lib.last built);
  byOutput = builtins.listToAttrs (lib.imap0 (index: step: lib.nameValuePair (builtins.elemAt steps index).output step) (lib.tail built));
}
