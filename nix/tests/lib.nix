# Unit tests of nix/lib: `nix-instantiate --eval --strict nix/tests/lib.nix` prints the number of
# passing tests, or aborts naming every failing one with what it got and what it expected.
let
  lib = import ../lib;
  inherit (lib) variants image licences;
  inherit (builtins) attrNames concatStringsSep filter length map toJSON tryEval;

  throws = value: !(tryEval (builtins.deepSeq value value)).success;

  toml = variantsTable: ''
    [workspace]
    members = ["crates/*"]
    ${variantsTable}
  '';

  fourVariants = toml ''
    [workspace.metadata.variants]
    cpu = { features = [] }
    cuda = { features = ["knn-server/cuda"] }
    rocm = { features = ["knn-server/rocm"] }
    vulkan = { features = ["knn-server/vulkan", "knn-core/spirv"] }
    plain = { features = [] }
  '';

  nixVariants = import ../variants.nix;
  plan = lib.plan {
    cargoToml = fourVariants;
    inherit nixVariants;
    payload = "knn-server";
  };
  v = plan.variants;

  # The repository's own table must parse and keep cpu feature-less.
  repoPlan = lib.plan {
    cargoToml = builtins.readFile ../../Cargo.toml;
    inherit nixVariants;
    payload = "knn-server";
  };

  cases = [
    # ---- reading the table
    {
      name = "variants are read with their features";
      actual = variants.fromCargoToml fourVariants;
      expected = {
        cpu.features = [];
        cuda.features = ["knn-server/cuda"];
        plain.features = [];
        rocm.features = ["knn-server/rocm"];
        vulkan.features = ["knn-server/vulkan" "knn-core/spirv"];
      };
    }
    {
      name = "a workspace without the table has the single variant `default`";
      actual = variants.fromCargoToml (toml "");
      expected = {default.features = [];};
    }
    {
      name = "an empty table is an error";
      actual = throws (variants.fromCargoToml (toml "[workspace.metadata.variants]"));
      expected = true;
    }
    {
      name = "a variant without a features list is an error";
      actual = throws (variants.fromCargoToml (toml "[workspace.metadata.variants]\ncpu = {}"));
      expected = true;
    }
    {
      name = "a non-string feature is an error";
      actual = throws (variants.fromCargoToml (toml "[workspace.metadata.variants]\ncuda = { features = [1] }"));
      expected = true;
    }
    {
      name = "`common` is reserved for the shared layer";
      actual = throws (variants.fromCargoToml (toml "[workspace.metadata.variants]\ncommon = { features = [] }"));
      expected = true;
    }
    {
      name = "an upper-case variant name is an error";
      actual = throws (variants.fromCargoToml (toml "[workspace.metadata.variants]\nCuda = { features = [] }"));
      expected = true;
    }
    {
      name = "the repository's Cargo.toml declares cpu without features";
      actual = repoPlan.variants.cpu.features;
      expected = [];
    }
    {
      name = "the repository's variants all have Nix settings";
      actual = filter (n: !(nixVariants ? ${n})) (attrNames repoPlan.variants);
      expected = [];
    }

    # ---- layers and cargo flags
    {
      name = "cpu builds on the common layer";
      actual = v.cpu.layer;
      expected = "deps-common";
    }
    {
      name = "a featured variant gets its own layer";
      actual = map (n: v.${n}.layer) ["cuda" "rocm" "vulkan"];
      expected = ["deps-cuda" "deps-rocm" "deps-vulkan"];
    }
    {
      name = "the real build selects the whole workspace and the variant's features";
      actual = map (n: v.${n}.cargoExtraArgs) ["cpu" "cuda" "vulkan"];
      expected = [
        "--locked --workspace"
        "--locked --workspace --features knn-server/cuda"
        "--locked --workspace --features knn-server/vulkan,knn-core/spirv"
      ];
    }
    {
      name = "a stacked layer runs buildDepsOnly's three commands with the layer feature";
      actual = v.cuda.layerCommands;
      expected = {
        build = "cargoWithProfile check --locked --features cuda --all-targets\ncargoWithProfile build --locked --features cuda\n";
        check = "cargoWithProfile test --locked --features cuda --no-run\n";
      };
    }
    {
      name = "without features the layer commands are crane's defaults";
      actual = v.cpu.layerCommands;
      expected = {
        build = "cargoWithProfile check --locked --all-targets\ncargoWithProfile build --locked\n";
        check = "cargoWithProfile test --locked --no-run\n";
      };
    }
    {
      name = "package names: feature-less variants share cpu's, others carry the variant";
      actual = map (n: v.${n}.pname) ["cpu" "plain" "cuda"];
      expected = ["knn-server" "knn-server" "knn-server-cuda"];
    }

    # ---- a feature-less variant is cpu at build time
    {
      name = "a feature-less variant has every build-time decision of cpu";
      actual = let
        buildTime = x: {inherit (x) layer layerCommands cargoExtraArgs pname driverRunpath features;};
      in
        buildTime v.plain == buildTime v.cpu;
      expected = true;
    }
    {
      name = "driver RUNPATH only for featured variants that ask for it";
      actual = map (n: v.${n}.driverRunpath) ["cpu" "cuda" "rocm" "vulkan" "plain"];
      expected = [false true false true false];
    }

    # ---- systems and outputs
    {
      name = "rocm is x86_64-linux only, cpu also on darwin";
      actual = {
        rocm = v.rocm.systems;
        cpuDarwin = builtins.elem "aarch64-darwin" v.cpu.systems;
      };
      expected = {
        rocm = ["x86_64-linux"];
        cpuDarwin = true;
      };
    }
    {
      name = "aarch64-linux has every variant but rocm";
      actual = plan.namesOn "aarch64-linux";
      expected = ["cpu" "cuda" "plain" "vulkan"];
    }
    {
      name = "darwin gets cpu packages and shells only, no images";
      actual = plan.outputs "aarch64-darwin";
      expected = {
        packages = ["default" "deps-common" "cpu" "deps-cpu"];
        devShells = ["default" "cpu"];
        checks = ["fmt" "audit" "deny" "deps-layer-check" "package-cpu" "clippy-cpu" "nextest-cpu"];
      };
    }
    {
      name = "x86_64-linux packages";
      actual = (plan.outputs "x86_64-linux").packages;
      expected = [
        "default"
        "deps-common"
        "cpu"
        "cuda"
        "plain"
        "rocm"
        "vulkan"
        "deps-cpu"
        "deps-cuda"
        "deps-plain"
        "deps-rocm"
        "deps-vulkan"
        "image-cpu"
        "image-cuda"
        "image-plain"
        "image-rocm"
        "image-vulkan"
      ];
    }
    {
      name = "the default variant is cpu";
      actual = map plan.defaultVariant ["x86_64-linux" "aarch64-darwin"];
      expected = ["cpu" "cpu"];
    }
    {
      name = "systems with at least one variant";
      actual = plan.systems;
      expected = ["x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin"];
    }

    # ---- nixpkgs configuration and licences
    {
      name = "cpu and feature-less variants use the default nixpkgs";
      actual = map (n: v.${n}.nixpkgsConfig) ["cpu" "plain"];
      expected = [null null];
    }
    {
      name = "cuda turns on cudaSupport with explicit capabilities";
      actual = {inherit (v.cuda.nixpkgsConfig) cudaSupport cudaCapabilities;};
      expected = {
        cudaSupport = true;
        cudaCapabilities = ["7.5" "8.0" "8.6" "8.9" "9.0"];
      };
    }
    {
      name = "rocm needs no nixpkgs config: its libraries are a subset of clr, named by file";
      actual = {
        inherit (v.rocm) nixpkgsConfig runtimeLibraries;
        vulkan = v.vulkan.runtimeLibraries;
      };
      expected = {
        nixpkgsConfig = null;
        runtimeLibraries = [
          {
            path = ["rocmPackages" "clr"];
            keep = ["libamdhip64.so*" "libhiprtc.so*" "libhiprtc-builtins.so*"];
          }
        ];
        vulkan = [
          {
            path = ["vulkan-loader"];
            keep = null;
          }
          {
            path = ["xorg" "libX11"];
            keep = null;
          }
          {
            path = ["xorg" "libXext"];
            keep = null;
          }
        ];
      };
    }
    {
      name = "a runtime library that is neither a path nor { path; keep; } with a glob is refused";
      actual = map (entry:
        throws
        (lib.plan {
          cargoToml = toml ''
            [workspace.metadata.variants]
            x = { features = ["a/b"] }
          '';
          nixVariants = {x.runtimeLibraries = [entry];};
          payload = "p";
        })
        .variants
        .x
        .runtimeLibraries) [
        "clr"
        {path = ["clr"];}
        {
          path = ["clr"];
          keep = [];
        }
      ];
      expected = [true true true];
    }
    {
      name = "the CUDA predicate accepts CUDA-licensed packages, shipped names, and nothing else unfree";
      actual = let
        allow = v.cuda.nixpkgsConfig.allowUnfreePredicate;
        unfree = {
          shortName = "unfree";
          free = false;
        };
        cudaEula = {
          shortName = "CUDA EULA";
          free = false;
        };
      in [
        (allow {
          pname = "libcusparse";
          meta.license = cudaEula;
        })
        (allow {
          pname = "cudnn";
          meta.license = [
            {
              shortName = "cuDNN EULA";
              free = false;
            }
          ];
        })
        (allow {
          pname = "cuda_nvrtc";
          meta.license = unfree;
        })
        (allow {
          pname = "steam";
          meta.license = unfree;
        })
        (allow {
          pname = "mixed";
          meta.license = [cudaEula unfree];
        })
      ];
      expected = [true true true false false];
    }
    {
      name = "no unfree family, nothing unfree";
      actual = licences.unfreePredicate null [] {
        pname = "x";
        meta.license.shortName = "CUDA EULA";
      };
      expected = false;
    }

    # ---- sources
    {
      name = "the real build keeps the shader the Vulkan backend includes, not docs";
      actual = map (ext: builtins.elem ext lib.sourceExtensions) ["wgsl" "sql" "md"];
      expected = [true true false];
    }

    # ---- image
    {
      name = "the image runs as a non-root user with /data and port 8080";
      actual = {inherit (image.config) User ExposedPorts Volumes Cmd;};
      expected = {
        User = "1000:1000";
        ExposedPorts = {"8080/tcp" = {};};
        Volumes = {"/data" = {};};
        Cmd = ["serve" "--listen" "0.0.0.0:8080" "--data-dir" "/data"];
      };
    }
    {
      name = "the cpu image env has no accelerator variables";
      actual = image.env {
        accelerator = null;
        system = "x86_64-linux";
        caBundle = "/ca.crt";
      };
      expected = ["SSL_CERT_FILE=/ca.crt"];
    }
    {
      name = "the cuda image env names devices, capabilities and the toolkit's library dirs";
      actual = image.env {
        accelerator = "nvidia";
        system = "x86_64-linux";
        libraryDirs = ["/nix/store/a-nvrtc/lib"];
        caBundle = "/ca.crt";
      };
      expected = [
        "SSL_CERT_FILE=/ca.crt"
        "LD_LIBRARY_PATH=/nix/store/a-nvrtc/lib:/usr/lib/x86_64-linux-gnu:/usr/lib64:/usr/lib"
        "NVIDIA_VISIBLE_DEVICES=all"
        "NVIDIA_DRIVER_CAPABILITIES=compute,utility"
      ];
    }
    {
      name = "the vulkan image searches the toolkit's ICD dirs, then Mesa's, and asks for graphics";
      actual = image.env {
        accelerator = "vulkan";
        system = "aarch64-linux";
        libraryDirs = ["/nix/store/l-loader/lib"];
        icdDirs = ["/nix/store/m-mesa/share/vulkan/icd.d"];
        caBundle = "/ca.crt";
      };
      expected = [
        "SSL_CERT_FILE=/ca.crt"
        "LD_LIBRARY_PATH=/nix/store/l-loader/lib:/usr/lib/aarch64-linux-gnu:/usr/lib64:/usr/lib"
        "NVIDIA_VISIBLE_DEVICES=all"
        "NVIDIA_DRIVER_CAPABILITIES=compute,graphics,utility"
        "VK_ADD_DRIVER_FILES=/etc/vulkan/icd.d:/nix/store/m-mesa/share/vulkan/icd.d"
      ];
    }
    {
      name = "every host Vulkan driver dir is either added to the image or searched by the loader itself";
      actual = let
        env = image.env {
          accelerator = "vulkan";
          system = "x86_64-linux";
          icdDirs = ["/nix/store/m-mesa/share/vulkan/icd.d"];
          caBundle = "/ca.crt";
        };
        value = builtins.head (filter (x: x != null) (map (e: let
          m = builtins.match "VK_ADD_DRIVER_FILES=(.*)" e;
        in
          if m == null
          then null
          else builtins.head m)
        env));
        added = filter builtins.isString (builtins.split ":" value);
        searchedByLoader = d: builtins.any (p: builtins.match "${p}/.*" d != null) image.hostDriver.loaderFallbackDataDirs;
      in
        map (d: {
          dir = d;
          found = builtins.elem d added || searchedByLoader d;
          twice = builtins.elem d added && searchedByLoader d;
        })
        image.hostDriver.vulkanDriverDirs;
      expected = [
        {
          dir = "/etc/vulkan/icd.d";
          found = true;
          twice = false;
        }
        {
          dir = "/usr/share/vulkan/icd.d";
          found = true;
          twice = false;
        }
      ];
    }
    {
      name = "the rocm image env has its runtime libraries and no NVIDIA variables";
      actual = image.env {
        accelerator = "rocm";
        system = "x86_64-linux";
        libraryDirs = ["/nix/store/c-clr/lib"];
        caBundle = "/ca.crt";
      };
      expected = [
        "SSL_CERT_FILE=/ca.crt"
        "LD_LIBRARY_PATH=/nix/store/c-clr/lib"
      ];
    }
    {
      name = "the service user is in /etc/passwd";
      actual = builtins.match ".*\nknn:x:1000:1000:[^\n]*:/data:[^\n]*\n" image.passwd != null;
      expected = true;
    }
  ];

  failures = filter (c: c.actual != c.expected) cases;
  report = c: "FAIL ${c.name}\n  actual:   ${toJSON c.actual}\n  expected: ${toJSON c.expected}";
in
  if failures == []
  then "nix/lib: ${toString (length cases)} tests passed"
  else throw "nix/lib: ${toString (length failures)} of ${toString (length cases)} tests failed\n${concatStringsSep "\n" (map report failures)}"
