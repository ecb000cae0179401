# Some library files of a package, alone: what an image ships when the package's output also
# holds tools whose references would pull a whole toolchain into the image's closure. The files
# keep their names and symlinks; their RUNPATH loses the package's own lib/ (now $ORIGIN) and keeps
# every other entry, so what they link comes along and nothing else of the package does.
{
  lib,
  runCommand,
  patchelf,
  # the package, and shell globs of the files of its lib/ to keep (each must match something)
  package,
  keep,
}: let
  src = lib.getLib package;
in
  runCommand "${lib.getName package}-libs-${lib.getVersion package}" {
    nativeBuildInputs = [patchelf];
    # A file that still names the package (a path compiled into a string) would bring all of it
    # back; the build fails here instead of the image silently growing.
    disallowedReferences = [src];
  } ''
    mkdir -p $out/lib
    shopt -s nullglob
    for pattern in ${lib.escapeShellArgs keep}; do
      matched=(${src}/lib/$pattern)
      if ((''${#matched[@]} == 0)); then
        echo "runtime-subset: nothing in ${src}/lib matches $pattern" >&2
        exit 1
      fi
      cp -P "''${matched[@]}" $out/lib/
    done
    for f in $out/lib/*; do
      if [[ -L $f ]]; then
        target=$(readlink "$f")
        [[ $target != /* ]] || ln -sfn "$(basename "$target")" "$f"
        continue
      fi
      chmod u+w "$f"
      rpath=$(patchelf --print-rpath "$f" | tr : '\n' | grep -vx '${src}/lib' | grep -v '^$' | paste -sd : || true)
      patchelf --set-rpath "\$ORIGIN''${rpath:+:$rpath}" "$f"
    done
  ''
