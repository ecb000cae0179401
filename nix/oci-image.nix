# A variant's OCI image, streamed by dockerTools.streamLayeredImage (no image tarball in the store:
# `./result | docker load`). Popularity layering puts glibc, CA certs and GPU runtime libraries in
# layers of their own, so a new build of the service replaces one small layer.
# Holds the service, CA certs and only the runtime libraries the variant dlopens; the GPU driver
# itself comes from the host through the container toolkit (NVIDIA) or device nodes (ROCm).
#   nix build .#image-cpu && ./result | docker load
{
  lib,
  dockerTools,
  runCommand,
  patchelf,
  cacert,
  package,
  # from nix/lib: image settings and the variant's plan (its `image`: entrypoint, cmd, ports,
  # volumes, user)
  imagePlan,
  variant,
  system,
  runtimeLibraries ? [],
  vulkanDrivers ? [],
}: let
  env = imagePlan.env {
    inherit (variant) accelerator;
    inherit system;
    libraryDirs = map (p: "${lib.getLib p}/lib") runtimeLibraries;
    icdDirs = map (p: "${p}/share/vulkan/icd.d") vulkanDrivers;
    caBundle = "${cacert}/etc/ssl/certs/ca-bundle.crt";
  };
  # Only the service's binary: the workspace's other tools (deps-layer, ...) stay out of the image.
  # A RUNPATH entry into the package itself (its empty lib/) would pull them back in.
  settings = variant.image;
  service = runCommand "${package.pname}-service-${package.version}" {nativeBuildInputs = [patchelf];} ''
    install -Dm755 ${lib.getExe package} $out/bin/${package.meta.mainProgram}
    f=$out/bin/${package.meta.mainProgram}
    patchelf --set-rpath "$(patchelf --print-rpath "$f" | tr : '\n' | grep -v '^${package}/' | paste -sd :)" "$f"
  '';
in
  dockerTools.streamLayeredImage {
    name = package.meta.mainProgram;
    tag = variant.name;
    inherit (imagePlan) created;
    # An entrypoint of the variant's own names the program by its place in the image.
    contents = [cacert] ++ lib.optional (settings.entrypoint != null) service;
    # Files the service user needs; ownership is set in fakeRootCommands, which runs under fakeroot.
    extraCommands = ''
      mkdir -p etc tmp${lib.concatMapStrings (v: " ." + v) settings.volumes}
      cat > etc/passwd <<'END'
      ${imagePlan.passwd settings}END
      cat > etc/group <<'END'
      ${imagePlan.group settings}END
    '';
    fakeRootCommands =
      lib.concatMapStrings (v: ''
        chown ${toString imagePlan.uid}:${toString imagePlan.gid} .${v}
        chmod 0700 .${v}
      '')
      settings.volumes
      + ''
        chmod 1777 tmp
      '';
    config =
      imagePlan.config settings
      // {
        Entrypoint =
          if settings.entrypoint == null
          then ["${service}/bin/${package.meta.mainProgram}"]
          else settings.entrypoint;
        Env = env;
        Labels = {
          "org.opencontainers.image.title" = package.pname;
          "org.opencontainers.image.version" = package.version;
          "org.opencontainers.image.description" = "${package.meta.mainProgram}, ${variant.name} variant";
        };
      };
  }
