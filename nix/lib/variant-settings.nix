# Every setting a variant takes (mkFlake's `variants.<name>` and `defaults`): its default, the
# values it accepts and what it does. The one place they are written down: nix/README.md's table
# of variant settings is `readmeTable` (nix/tests/lib.nix fails when they differ), and nix/lib
# checks every entry against `valid`. Pure (builtins only).
let
  inherit (builtins) all attrNames concatStringsSep elem isAttrs isBool isList isString match;
  imageSettings = import ./image-settings.nix;

  isStringList = x: isList x && all isString x;
  isAttrPath = x: isStringList x && x != [];
  isUser = x: isString x && match "[a-z_][a-z0-9_-]*" x != null;

  # kind: "build" settings reach every crane derivation of the variant (its layer, package,
  # checks) and its dev shell; "variant" settings the rest (image, shell, package fixups).
  variant = {
    systems = {
      kind = "variant";
      default = ["x86_64-linux" "aarch64-linux"];
      shown = ''`["x86_64-linux" "aarch64-linux"]`'';
      valid = isStringList;
      doc = "where the variant is built";
    };
    nixpkgsConfig = {
      kind = "variant";
      default = {};
      shown = "`{}`";
      valid = isAttrs;
      doc = "config of the nixpkgs instance the variant's build inputs, runtime libraries and shell come from (`cudaSupport`, `cudaCapabilities`, ...)";
    };
    unfree = {
      kind = "variant";
      default = null;
      shown = "`null`";
      valid = x: x == null || isString x;
      doc = ''the unfree licence family the variant may use (`"cuda"`)'';
    };
    buildInputs = {
      kind = "build";
      default = [];
      shown = "`[]`";
      valid = x: isList x && all isAttrPath x;
      doc = ''attribute paths in the variant's nixpkgs (`[["openssl"]]`) for the variant's layer, package, checks and dev shell'';
    };
    nativeBuildInputs = {
      kind = "build";
      default = [];
      shown = "`[]`";
      valid = x: isList x && all isAttrPath x;
      doc = ''as `buildInputs`, for tools that run at build time (`[["cudaPackages" "cuda_nvcc"]]`)'';
    };
    env = {
      kind = "build";
      default = {};
      shown = "`{}`";
      valid = x: isAttrs x && all isString (builtins.attrValues x);
      doc = "environment variables (strings) for the same derivations; an `\"nvidia\"` variant with features gets `CUDA_COMPUTE_CAP` (its lowest `cudaCapabilities`, dot dropped) unless it sets it";
    };
    envPaths = {
      kind = "build";
      default = {};
      shown = "`{}`";
      valid = x: isAttrs x && all isAttrPath (builtins.attrValues x);
      doc = ''environment variables set to a package's store path, by attribute path in the variant's nixpkgs (`{ CUDA_PATH = ["cudaPackages" "cudatoolkit"]; }`, `{ ROCM_PATH = ["rocmPackages" "clr"]; }`), for build scripts that look for an SDK root'';
    };
    runtimeLibraries = {
      kind = "variant";
      default = [];
      shown = "`[]`";
      valid = isList;
      doc = "what the binary loads at run time, for the image and shell: an attribute path (the package's whole `lib/`), or `{ path = [...]; keep = [globs]; }` for only those files of its `lib/` (and what they link)";
    };
    vulkanDrivers = {
      kind = "variant";
      default = [];
      shown = "`[]`";
      valid = x: isList x && all isList x;
      doc = "attribute paths of packages whose `share/vulkan/icd.d` the loader may use";
    };
    accelerator = {
      kind = "variant";
      default = null;
      shown = "`null`";
      valid = x: x == null || elem x ["nvidia" "rocm" "vulkan"];
      doc = ''`"nvidia"` (container toolkit, CDI), `"rocm"` (`/dev/kfd`, `/dev/dri`) or `"vulkan"` (any Vulkan driver): how the image and shell reach the device'';
    };
    driverRunpath = {
      kind = "variant";
      default = false;
      shown = "`false`";
      valid = isBool;
      doc = "add `/run/opengl-driver/lib` (where NixOS puts the GPU driver) to the binary's RUNPATH (a variant with features only)";
    };
    image = {
      kind = "variant";
      default = {};
      shown = "`{}`";
      valid = isAttrs;
      doc = concatStringsSep ", " (map (name: "`${name}` (${image.${name}.doc})") (attrNames image));
    };
    imageUser = {
      kind = "variant";
      default = null;
      shown = "`null`";
      valid = x: x == null || isUser x;
      doc = "the image user's name, as `image.user`";
    };
  };

  # The settings of `image`, all optional.
  image = {
    entrypoint = {
      valid = isStringList;
      doc = "strings; default: the plan's `mainProgram` from the store, which an own entrypoint finds at `/bin/<mainProgram>`";
    };
    cmd = {
      valid = isStringList;
      doc = "strings; default none";
    };
    ports = {
      valid = x: isList x && all imageSettings.isPort x;
      doc = ''`8080` or `"8080/tcp"`, `"53/udp"`; default none'';
    };
    volumes = {
      valid = x: isList x && all imageSettings.isVolume x;
      doc = "absolute paths, created owned by the user, mode 0700; the first is its home and the working directory; default none, home `/`";
    };
    user = {
      valid = isUser;
      doc = "name of uid 1000; default `imageUser`, else the `mainProgram`";
    };
  };

  ofKind = kind:
    builtins.listToAttrs (map (name: {
      inherit name;
      value = variant.${name}.default;
    }) (builtins.filter (name: variant.${name}.kind == kind) (attrNames variant)));
in {
  inherit variant image;

  # name -> default, for the settings of one kind
  buildDefaults = ofKind "build";
  variantDefaults = ofKind "variant";

  # nix/README.md's table, row by row.
  readmeTable = concatStringsSep "\n" ([
      "| setting | default | what it does |"
      "|---|---|---|"
    ]
    ++ map (name: "| `${name}` | ${variant.${name}.shown} | ${variant.${name}.doc} |") (attrNames variant));
}
