# What goes into a variant's OCI image config, as data: user, port, volume, environment. Store
# paths come in as arguments, so this stays pure and testable.
let
  inherit (builtins) any concatStringsSep filter substring stringLength;

  hostDriver = import ./host-driver.nix;

  joinPath = dirs: concatStringsSep ":" (filter (d: d != "") dirs);

  isUnder = parent: dir: substring 0 (stringLength parent + 1) dir == "${parent}/";
  # The host's Vulkan driver dirs the loader does not search on its own in a container.
  vulkanDriverDirsToAdd = filter (d: !(any (p: isUnder p d) hostDriver.loaderFallbackDataDirs)) hostDriver.vulkanDriverDirs;
in rec {
  port = 8080;
  dataDir = "/data";
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

  # The OCI config besides Env and Entrypoint.
  config = {
    User = "${toString uid}:${toString gid}";
    ExposedPorts = {"${toString port}/tcp" = {};};
    Volumes = {${dataDir} = {};};
    WorkingDir = dataDir;
    Cmd = ["serve" "--listen" "0.0.0.0:${toString port}" "--data-dir" dataDir];
  };

  # /etc/passwd and /etc/group lines for the service user (and root, which tools expect). The
  # user's name comes from the variant (nix/lib: its imageUser knob, else the program it runs).
  passwd = user: ''
    root:x:0:0:root:/root:/noshell
    ${user}:x:${toString uid}:${toString gid}:${user}:${dataDir}:/noshell
  '';
  group = user: ''
    root:x:0:
    ${user}:x:${toString gid}:
  '';
}
