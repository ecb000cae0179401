# Which unfree packages a variant's nixpkgs may evaluate. CUDA needs NVIDIA's licences; nothing
# else unfree is let in by accident.
let
  inherit (builtins) all elem isList;

  # nixpkgs lib/licenses.nix: nvidiaCuda and nvidiaCudaRedist are both "CUDA EULA"; cuDNN and
  # cuTENSOR carry their own.
  families = {
    cuda = ["CUDA EULA" "cuDNN EULA" "cuTENSOR EULA"];
  };

  licencesOf = pkg: let
    l = pkg.meta.license or [];
  in
    if isList l
    then l
    else [l];
in {
  inherit families;

  # allowUnfreePredicate for a family: every licence of the package is free or one of the family's.
  # `allowedNames` are the family's packages a variant ships or builds with, accepted by name as well, so that a
  # package whose licence nixpkgs records only as the generic `unfree` still evaluates.
  unfreePredicate = family: allowedNames: pkg: let
    licences = licencesOf pkg;
    name = pkg.pname or (pkg.name or "");
  in
    family
    != null
    && (
      (licences != [] && all (l: (l.free or false) || elem (l.shortName or "") families.${family}) licences)
      || elem name allowedNames
    );
}
