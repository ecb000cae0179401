//! Reports against a real binary cache: Nix builds derivations made with
//! `builtins.derivation` and `/bin/sh` (no nixpkgs), copies some to a signed `file://` cache,
//! deletes them from the store, and the report must call those fetched (with their sizes)
//! and the rest built.
//!
//! Nix runs with a store, state, log and config of its own under a temporary directory
//! (`NIX_STORE_DIR` and friends), so these tests never touch `/nix`. They are skipped, with
//! the reason printed, when no `nix` is on PATH; `CACHE_REPORT_TEST_NIX` names another one.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const CACHE_REPORT: &str = env!("CARGO_BIN_EXE_cache-report");

/// Each output is random data (incompressible, so download size ~ unpacked size) plus the
/// paths of its dependencies, which makes them runtime references as in a real closure. A
/// package is a folder that also holds the layer report its build wrote.
const FLAKE: &str = r#"{
  outputs = { self }:
    let
      system = "@SYSTEM@";
      mk = name: size: deps: builtins.derivation {
        inherit name system;
        builder = "/bin/sh";
        PATH = "/usr/bin:/bin";
        args = [ "-c" "{ echo ${name} ${toString deps}; head -c ${toString size} /dev/urandom; } > $out" ];
      };
      package = name: size: deps: misses: builtins.derivation {
        inherit name system;
        builder = "/bin/sh";
        PATH = "/usr/bin:/bin";
        REPORT = builtins.toJSON {
          layer = "deps-${name}";
          externalUnits = 188;
          inherit misses;
          workspaceUnits = 3;
        };
        args = [ "-c" "mkdir -p $out/nix-support && { echo ${name} ${toString deps}; head -c ${toString size} /dev/urandom; } > $out/data && printf %s \"$REPORT\" > $out/nix-support/layer-report.json" ];
      };
      packages = rec {
        deps-common = mk "deps-common" 300000 [ ];
        deps-cpu = mk "deps-cpu" 200000 [ deps-common ];
        cpu = package "cpu" 100000 [ deps-cpu ] [ ];
        image-cpu = mk "image-cpu" 50000 [ cpu ];
        deps-cuda = mk "deps-cuda" 250000 [ deps-common ];
        cuda = package "cuda" 100000 [ deps-cuda ] [
          {
            package = "serde_json@1.0.154";
            packageId = "registry+https://github.com/rust-lang/crates.io-index#serde_json@1.0.154";
            kind = [ "lib" ];
            host = false;
            features = [ "std" ];
            optLevel = "3";
          }
        ];
        image-cuda = mk "image-cuda" 50000 [ cuda ];
        default = cpu;
      };
    in {
      packages.${system} = packages;
      # as lib.mkFlake provides it: the variants' names come from here
      legacyPackages.${system}.depsLayerPlan = builtins.fromJSON ''@PLAN@'';
    };
}
"#;

/// The plan of the flake above, as `deps-layer generate` writes it: each variant with a feature
/// and so a layer of its own on the common one.
fn plan_json() -> String {
    use deps_layer::plan_file::PlanFile;
    use deps_layer::variants::{Variant, Variants};
    let variants = Variants::from([
        ("cpu".to_string(), Variant::with_features(&["srv/cpu"])),
        ("cuda".to_string(), Variant::with_features(&["srv/cuda"])),
    ]);
    PlanFile::new(&variants, &["--workspace".into()], &Default::default(), "x").render()
}

struct IsolatedNix {
    root: tempfile::TempDir,
    program: PathBuf,
}

impl IsolatedNix {
    /// `None` (and the reason printed) when there is no Nix to run.
    fn new() -> Option<Self> {
        let program = std::env::var_os("CACHE_REPORT_TEST_NIX")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("nix"));
        if Command::new(&program).arg("--version").output().is_err() {
            // Straight to stderr: the test harness captures `eprintln!`, and a skip must show.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: no `{}` to run (install Nix, e.g. apt-get install nix-bin)",
                program.display()
            );
            return None;
        }
        let root = tempfile::tempdir().unwrap();
        let etc = root.path().join("etc");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(
            etc.join("nix.conf"),
            "experimental-features = nix-command flakes\n\
             sandbox = false\n\
             build-users-group =\n\
             builders =\n\
             substituters =\n\
             flake-registry =\n",
        )
        .unwrap();
        Some(Self { root, program })
    }

    fn store_dir(&self) -> PathBuf {
        self.root.path().join("store")
    }

    fn command(&self, program: &Path) -> Command {
        let dir = self.root.path();
        let mut command = Command::new(program);
        command
            .env("NIX_STORE_DIR", dir.join("store"))
            .env("NIX_STATE_DIR", dir.join("state"))
            .env("NIX_LOG_DIR", dir.join("log"))
            .env("NIX_CONF_DIR", dir.join("etc"))
            .env("HOME", dir.join("home"))
            .env("XDG_CACHE_HOME", dir.join("cache"))
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .env("XDG_DATA_HOME", dir.join("data"))
            .env("XDG_STATE_HOME", dir.join("state-home"))
            .env_remove("NIX_REMOTE")
            .env_remove("NIX_PATH")
            .env_remove("NIX_USER_CONF_FILES")
            .env_remove("NIX_CONFIG");
        command
    }

    fn nix(&self, args: &[&str]) -> String {
        let output = self.command(&self.program).args(args).output().unwrap();
        assert_success(&format!("nix {}", args.join(" ")), &output);
        String::from_utf8(output.stdout).unwrap()
    }

    /// The system Nix builds for here.
    fn system(&self) -> String {
        self.nix(&[
            "eval",
            "--impure",
            "--raw",
            "--expr",
            "builtins.currentSystem",
        ])
    }

    fn cache_report(&self, args: &[&str]) -> Output {
        let mut command = self.command(Path::new(CACHE_REPORT));
        command.arg("--nix").arg(&self.program).args(args);
        command.output().unwrap()
    }

    fn write_flake(&self) -> String {
        let system = self.system();
        let dir = self.root.path().join("flake");
        std::fs::create_dir_all(&dir).unwrap();
        let flake = FLAKE
            .replace("@SYSTEM@", &system)
            .replace("@PLAN@", &plan_json());
        std::fs::write(dir.join("flake.nix"), flake).unwrap();
        format!("path:{}", dir.display())
    }

    fn attr(&self, flake: &str, name: &str, attribute: &str) -> String {
        let system = self.system();
        self.nix(&[
            "eval",
            "--raw",
            &format!("{flake}#packages.{system}.{name}.{attribute}"),
        ])
    }

    /// A signed `file://` cache holding `names` and their closures, which are then deleted
    /// from the store. Returns the cache URL and the Nix args that trust it.
    fn cache_holding(&self, flake: &str, names: &[&str]) -> (String, Vec<String>) {
        let system = self.system();
        let installables: Vec<String> = names
            .iter()
            .map(|name| format!("{flake}#packages.{system}.{name}"))
            .collect();
        let mut build = vec!["build", "--no-link"];
        build.extend(installables.iter().map(String::as_str));
        self.nix(&build);

        let secret = self.root.path().join("cache.sec");
        let key = self.nix(&["key", "generate-secret", "--key-name", "test-cache-1"]);
        std::fs::write(&secret, &key).unwrap();
        let mut convert = self.command(&self.program);
        let public = convert
            .args(["key", "convert-secret-to-public"])
            .stdin(std::fs::File::open(&secret).unwrap())
            .output()
            .unwrap();
        assert_success("nix key convert-secret-to-public", &public);
        let public = String::from_utf8(public.stdout).unwrap().trim().to_string();

        let cache = format!("file://{}", self.root.path().join("cache").display());
        let out_paths: Vec<String> = names
            .iter()
            .map(|name| self.attr(flake, name, "outPath"))
            .collect();
        let to = format!("{cache}?secret-key={}", secret.display());
        let mut copy = vec!["copy", "--to", &to];
        copy.extend(out_paths.iter().map(String::as_str));
        self.nix(&copy);

        let mut closure_query = vec!["path-info", "--recursive"];
        closure_query.extend(out_paths.iter().map(String::as_str));
        let closure = self.nix(&closure_query);
        let mut delete = vec!["store", "delete"];
        delete.extend(closure.lines());
        self.nix(&delete);
        for path in closure.lines() {
            assert!(!Path::new(path).exists(), "{path} still in the store");
        }
        let trust = vec![
            "--option".to_string(),
            "substituters".to_string(),
            cache.clone(),
            "--option".to_string(),
            "trusted-public-keys".to_string(),
            public,
        ];
        (cache, trust)
    }
}

fn assert_success(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn report_json(output: &Output) -> Value {
    assert_success("cache-report", output);
    serde_json::from_slice(&output.stdout).unwrap()
}

fn group<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|group| group["name"] == name)
        .unwrap_or_else(|| panic!("no group {name} in {report:#}"))
}

fn layer_statuses(group: &Value) -> BTreeMap<String, String> {
    statuses(group, true)
}

fn statuses(group: &Value, layers_only: bool) -> BTreeMap<String, String> {
    group["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|output| !layers_only || output["layer"] == true)
        .map(|layer| {
            (
                layer["name"].as_str().unwrap().to_string(),
                layer["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item.as_str().unwrap().to_string())
        .collect()
}

fn names_of(paths: &[String]) -> Vec<String> {
    let mut names: Vec<String> = paths
        .iter()
        .map(|path| {
            let base = path.rsplit('/').next().unwrap();
            let name = base.split_once('-').unwrap().1;
            name.trim_end_matches(".drv").to_string()
        })
        .collect();
    names.sort();
    names
}

#[test]
fn cached_layers_are_fetched_with_their_sizes_and_the_rest_is_built() {
    let Some(nix) = IsolatedNix::new() else {
        return;
    };
    let flake = nix.write_flake();
    // The cpu variant's layers and package are in the cache; its image and everything of
    // cuda but the shared layer are not.
    let (cache, trust) = nix.cache_holding(&flake, &["cpu"]);
    let nar_sizes: BTreeMap<String, u64> = ["deps-common", "deps-cpu", "cpu"]
        .iter()
        .map(|name| {
            let info = nix.nix(&[
                "path-info",
                "--json",
                "--store",
                &cache,
                &nix.attr(&flake, name, "outPath"),
            ]);
            let info: Value = serde_json::from_str(&info).unwrap();
            let entry = match &info {
                Value::Array(entries) => entries[0].clone(),
                Value::Object(by_path) => by_path.values().next().unwrap().clone(),
                other => panic!("path-info printed {other}"),
            };
            (name.to_string(), entry["narSize"].as_u64().unwrap())
        })
        .collect();

    let mut args = vec!["--flake", &flake, "--cache", &cache, "--json", "--"];
    args.extend(trust.iter().map(String::as_str));
    let report = report_json(&nix.cache_report(&args));
    eprintln!("{report:#}");

    let cpu = group(&report, "cpu");
    assert_eq!(
        layer_statuses(cpu),
        BTreeMap::from([
            ("deps-common".to_string(), "fetched".to_string()),
            ("deps-cpu".to_string(), "fetched".to_string()),
        ])
    );
    let outputs = statuses(cpu, false);
    assert_eq!(outputs["cpu"], "fetched");
    assert_eq!(outputs["image-cpu"], "built");
    assert_eq!(names_of(&strings(&cpu["built"])), ["image-cpu"]);
    let fetched: Vec<&Value> = cpu["fetched"].as_array().unwrap().iter().collect();
    let fetched_paths: Vec<String> = fetched
        .iter()
        .map(|path| path["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names_of(&fetched_paths), ["cpu", "deps-common", "deps-cpu"]);
    for path in &fetched {
        let name = names_of(&[path["path"].as_str().unwrap().to_string()]).remove(0);
        assert_eq!(path["nar_bytes"].as_u64(), Some(nar_sizes[&name]), "{path}");
        // Random data does not compress: the download is close to the unpacked size.
        let download = path["download_bytes"].as_u64().unwrap();
        assert!(download > nar_sizes[&name] * 9 / 10, "{path}");
        assert_eq!(path["trusted"], true, "{path}");
    }
    // Nix's own rounded total agrees with the per-path sizes.
    let exact: u64 = nar_sizes.values().sum();
    let printed = cpu["unpacked_bytes"].as_u64().unwrap();
    assert!(printed.abs_diff(exact) < 10 * 1024, "{printed} vs {exact}");

    let cuda = group(&report, "cuda");
    assert_eq!(
        layer_statuses(cuda),
        BTreeMap::from([
            ("deps-common".to_string(), "fetched".to_string()),
            ("deps-cuda".to_string(), "built".to_string()),
        ])
    );
    assert_eq!(
        names_of(&strings(&cuda["built"])),
        ["cuda", "deps-cuda", "image-cuda"]
    );
    let cuda_fetched: Vec<String> = cuda["fetched"]
        .as_array()
        .unwrap()
        .iter()
        .map(|path| path["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names_of(&cuda_fetched), ["deps-common"]);

    // Everything the report names lives in the test's own store, none of it under /nix.
    let store = nix.store_dir().display().to_string();
    for group in report["groups"].as_array().unwrap() {
        for path in strings(&group["built"]).iter().chain(&fetched_paths) {
            assert!(path.starts_with(&store), "{path} outside {store}");
        }
    }

    let summary = nix.root.path().join("summary.md");
    std::fs::write(&summary, "earlier steps' summary\n").unwrap();
    let summary_arg = summary.display().to_string();
    let mut args = vec![
        "--flake",
        &flake,
        "--cache",
        &cache,
        "--append-markdown",
        &summary_arg,
        "--",
    ];
    args.extend(trust.iter().map(String::as_str));
    let table = nix.cache_report(&args);
    assert_success("cache-report", &table);
    let table = String::from_utf8(table.stdout).unwrap();
    println!("{table}");
    assert_eq!(
        std::fs::read_to_string(&summary).unwrap(),
        format!("earlier steps' summary\n{table}")
    );
    assert!(
        table.contains(
            "| cpu | deps-common hit (fetched), deps-cpu hit (fetched) | image-cpu | 1 | 3 |"
        ),
        "{table}"
    );
    assert!(
        table.contains(
            "| cuda | deps-common hit (fetched), deps-cuda miss (built) | deps-cuda, cuda, image-cuda | 3 | 1 |"
        ),
        "{table}"
    );

    // Shortened lists keep the largest downloads: deps-common is the largest output.
    let mut args = vec![
        "--flake",
        &flake,
        "--cache",
        &cache,
        "--max-listed",
        "1",
        "--",
    ];
    args.extend(trust.iter().map(String::as_str));
    let short = nix.cache_report(&args);
    assert_success("cache-report --max-listed 1", &short);
    let short = String::from_utf8(short.stdout).unwrap();
    let cpu_details = short.split("## ").find(|s| s.starts_with("cpu")).unwrap();
    let fetched_list = cpu_details.split("Fetched (3):").nth(1).unwrap();
    let listed: Vec<&str> = fetched_list
        .lines()
        .filter(|l| l.starts_with("- "))
        .collect();
    assert_eq!(listed.len(), 2, "{short}");
    assert!(listed[0].contains("-deps-common`"), "{short}");
    assert_eq!(listed[1], "- … and 2 more", "{short}");
}

#[test]
fn a_cache_signed_by_an_untrusted_key_is_a_miss() {
    let Some(nix) = IsolatedNix::new() else {
        return;
    };
    let flake = nix.write_flake();
    let (cache, _trust) = nix.cache_holding(&flake, &["deps-cpu"]);
    // The cache is a substituter but its key is not trusted: `nix build --dry-run` still
    // lists the layers as fetched, the real build refuses them, and so must the report.
    let output = nix.cache_report(&[
        "--flake",
        &flake,
        "--variant",
        "cpu",
        "--cache",
        &cache,
        "--json",
        "--",
        "--option",
        "substituters",
        &cache,
    ]);
    let report = report_json(&output);
    let groups = report["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1);
    let cpu = &groups[0];
    assert_eq!(
        layer_statuses(cpu),
        BTreeMap::from([
            ("deps-common".to_string(), "untrusted".to_string()),
            ("deps-cpu".to_string(), "untrusted".to_string()),
        ])
    );
    let fetched = cpu["fetched"].as_array().unwrap();
    assert_eq!(fetched.len(), 2);
    assert!(
        fetched.iter().all(|path| path["trusted"] == false),
        "{cpu:#}"
    );

    // What the real build does with that cache: it builds both layers.
    let system = nix.system();
    let build = nix
        .command(&nix.program)
        .args(["build", "--no-link", "--option", "substituters", &cache])
        .arg(format!("{flake}#packages.{system}.deps-cpu"))
        .output()
        .unwrap();
    assert_success("nix build", &build);
    let log = String::from_utf8_lossy(&build.stderr);
    assert!(log.contains("not signed by any of the keys"), "{log}");
    assert!(log.contains("deps-common.drv"), "{log}");
    assert!(log.contains("deps-cpu.drv"), "{log}");
}

#[test]
fn a_single_derivation_and_a_layer_already_in_the_store() {
    let Some(nix) = IsolatedNix::new() else {
        return;
    };
    let flake = nix.write_flake();
    let system = nix.system();
    let installable = |name: &str| format!("{flake}#packages.{system}.{name}");
    nix.nix(&["build", "--no-link", &installable("cpu")]);
    // Nix prints the one-derivation form of its message here.
    let output = nix.cache_report(&[
        "--json",
        "--layer",
        &installable("deps-cpu"),
        &installable("image-cpu"),
    ]);
    let report = report_json(&output);
    let only = group(&report, "installables");
    assert_eq!(names_of(&strings(&only["built"])), ["image-cpu"]);
    assert_eq!(
        layer_statuses(only),
        BTreeMap::from([(installable("deps-cpu"), "present".to_string())])
    );
    assert!(only["fetched"].as_array().unwrap().is_empty());
}

#[test]
fn a_package_s_last_layer_report_is_shown_where_the_package_is() {
    let Some(nix) = IsolatedNix::new() else {
        return;
    };
    let flake = nix.write_flake();
    // cpu's closure in the cache (not the local store), cuda's package built here.
    let (cache, trust) = nix.cache_holding(&flake, &["cpu"]);
    let system = nix.system();
    nix.nix(&[
        "build",
        "--no-link",
        &format!("{flake}#packages.{system}.cuda"),
    ]);
    let mut args = vec!["--flake", &flake, "--cache", &cache, "--"];
    args.extend(trust.iter().map(String::as_str));
    let markdown_output = nix.cache_report(&args);
    assert_success("cache-report", &markdown_output);
    let markdown = String::from_utf8_lossy(&markdown_output.stdout);
    assert!(
        markdown.contains("| 0 of 188 external units compiled |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| 1 of 188 external units compiled |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("`serde_json@1.0.154` (lib)"),
        "{markdown}"
    );

    let mut args = vec!["--flake", &flake, "--cache", &cache, "--json", "--"];
    args.extend(trust.iter().map(String::as_str));
    let report = report_json(&nix.cache_report(&args));
    let cpu = &group(&report, "cpu")["layer_report"];
    assert_eq!(cpu["from"], cache.as_str(), "{cpu}");
    assert_eq!(cpu["report"]["misses"], serde_json::json!([]), "{cpu}");
    let cuda = &group(&report, "cuda")["layer_report"];
    assert_eq!(cuda["from"], "local store", "{cuda}");
    assert_eq!(cuda["report"]["misses"][0]["package"], "serde_json@1.0.154");
}

#[test]
fn an_unknown_variant_fails_naming_the_ones_there_are() {
    let Some(nix) = IsolatedNix::new() else {
        return;
    };
    let flake = nix.write_flake();
    let output = nix.cache_report(&["--flake", &flake, "--variant", "rocm"]);
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "wrote a partial report");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no variant `rocm`"), "{stderr}");
    assert!(stderr.contains("cpu, cuda"), "{stderr}");
}

#[test]
fn a_missing_nix_is_named() {
    let output = Command::new(CACHE_REPORT)
        .args(["--nix", "/nonexistent/bin/nix", "--system", "x86_64-linux"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("could not run `/nonexistent/bin/nix`"),
        "{stderr}"
    );
}

#[test]
fn a_flake_without_a_plan_is_refused_naming_the_attribute() {
    let Some(nix) = IsolatedNix::new() else {
        return;
    };
    let flake = nix.write_flake();
    let dir = flake.strip_prefix("path:").unwrap();
    let text = std::fs::read_to_string(format!("{dir}/flake.nix")).unwrap();
    // legacyPackages without the plan: a flake not made by lib.mkFlake
    std::fs::write(
        format!("{dir}/flake.nix"),
        text.replace(".depsLayerPlan =", ".otherData ="),
    )
    .unwrap();
    let output = nix.cache_report(&["--flake", &flake, "--json"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("legacyPackages") && stderr.contains("depsLayerPlan"),
        "{stderr}"
    );
}
