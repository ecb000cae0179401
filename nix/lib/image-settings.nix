# What goes into a variant's OCI image config, as data: user, ports, volumes, command,
# environment. Store paths come in as arguments, so this stays pure and testable.
let
  inherit (builtins) any concatStringsSep filter head isInt isString listToAttrs match substring stringLength;

  hostDriver = import ./host-driver.nix;

  joinPath = dirs: concatStringsSep ":" (filter (d: d != "") dirs);

  isUnder = parent: dir: substring 0 (stringLength parent + 1) dir == "${parent}/";
  # The host's Vulkan driver dirs the loader does not search on its own in a container.
  vulkanDriverDirsToAdd = filter (d: !(any (p: isUnder p d) hostDriver.loaderFallbackDataDirs)) hostDriver.vulkanDriverDirs;

  portName = p:
    if isInt p
    then "${toString p}/tcp"
    else p;
in rec {
  # A port as the image knob writes it: a number (TCP) or "N/tcp", "N/udp".
  isPort = p:
    (isInt p && p > 0 && p < 65536)
    || (isString p && match "[1-9][0-9]{0,4}/(tcp|udp)" p != null);
  # A volume: an absolute path, not the root itself.
  isVolume = v: isString v && match "/[^/].*" v != null && match ".*/\\.\\.?(/.*)?" v == null;

  # The image knob (checked by nix/lib) -> every setting, absent ones as the generic defaults:
  #   entrypoint  null: the variant's program, from the store
  #   cmd         the arguments after it, null for none
  #   ports       exposed ports
  #   volumes     directories owned by the user; the first is its home and the working directory
  #   user        the user's name (resolved by nix/lib: the program's name unless set)
  settings = {
    entrypoint ? null,
    cmd ? null,
    ports ? [],
    volumes ? [],
    user,
  }: {
    inherit entrypoint cmd user;
    ports =
      if ports == null
      then []
      else ports;
    volumes =
      if volumes == null
      then []
      else volumes;
  };

  uid = 1000;
  gid = 1000;
  # Images are reproducible: a fixed creation date, not the build time.
  created = "1970-01-01T00:00:01Z";

  # Where the NVIDIA container toolkit (legacy hook or CDI) mounts the driver into a container.
  inherit hostDriver;
  driverLibraryDirs = hostDriver.libraryDirs;

  # NVIDIA_DRIVER_CAPABILITIES: compute for CUDA; Vulkan also needs `graphics`, without which the
  # toolkit does not inject NVIDIA's Vulkan ICD.
  nvidiaCapabilities = accelerator:
    if accelerator == "vulkan"
    then "compute,graphics,utility"
    else "compute,utility";

  # The image's environment as "KEY=value" strings.
  #   accelerator: null | "nvidia" | "rocm" | "vulkan"
  #   libraryDirs: the lib/ dirs of the runtime libraries the variant dlopens
  #   icdDirs:     share/vulkan/icd.d dirs of the Vulkan drivers shipped in the image
  #   caBundle:    path of the CA bundle
  env = {
    accelerator,
    system,
    libraryDirs ? [],
    icdDirs ? [],
    caBundle,
  }: let
    reachesNvidia = accelerator == "nvidia" || accelerator == "vulkan";
    ldPath = joinPath (libraryDirs
      ++ (
        if reachesNvidia
        then driverLibraryDirs system
        else []
      ));
  in
    [
      "SSL_CERT_FILE=${caBundle}"
      # The home is the first volume: a library's cache (Mesa's shader cache, NVIDIA's) would land
      # in the service's data. /tmp is the image's own, writable by every user.
      "XDG_CACHE_HOME=/tmp/.cache"
    ]
    ++ (
      if ldPath != ""
      then ["LD_LIBRARY_PATH=${ldPath}"]
      else []
    )
    ++ (
      if reachesNvidia
      then [
        "NVIDIA_VISIBLE_DEVICES=all"
        "NVIDIA_DRIVER_CAPABILITIES=${nvidiaCapabilities accelerator}"
      ]
      else []
    )
    ++ (
      if accelerator == "vulkan"
      then [
        # Added to (not replacing) the loader's own search, which in nixpkgs does not cover
        # /etc/vulkan/icd.d, one of the two places the toolkit puts NVIDIA's ICD (the other,
        # /usr/share/vulkan/icd.d, it searches itself while XDG_DATA_DIRS is unset). Enumeration
        # order follows the search order and is no preference: the service picks the adapter.
        "VK_ADD_DRIVER_FILES=${joinPath (vulkanDriverDirsToAdd ++ icdDirs)}"
      ]
      else []
    );

  # The service user's home, which is also the working directory: the first volume, else /.
  home = settings:
    if settings.volumes == []
    then "/"
    else head settings.volumes;

  # The OCI config besides Env, Entrypoint and Labels, from settings as `settings` returns them.
  config = settings:
    {User = "${toString uid}:${toString gid}";}
    // (
      if settings.ports != []
      then {
        ExposedPorts = listToAttrs (map (p: {
            name = portName p;
            value = {};
          })
          settings.ports);
      }
      else {}
    )
    // (
      if settings.volumes != []
      then {
        Volumes = listToAttrs (map (v: {
            name = v;
            value = {};
          })
          settings.volumes);
        WorkingDir = home settings;
      }
      else {}
    )
    // (
      if settings.cmd != null
      then {Cmd = settings.cmd;}
      else {}
    );

  # /etc/passwd and /etc/group lines for the service user (and root, which tools expect).
  passwd = settings: ''
    root:x:0:0:root:/root:/noshell
    ${settings.user}:x:${toString uid}:${toString gid}:${settings.user}:${home settings}:/noshell
  '';
  group = settings: ''
    root:x:0:
    ${settings.user}:x:${toString gid}:
  '';
}
