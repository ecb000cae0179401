//! What the layer must contain: for each variant, every external unit the real build compiles,
//! read from cargo's unit graphs, sorted into the part of the synthetic crate that reproduces it.

use std::collections::{BTreeMap, BTreeSet};

use crate::lock::{LockFile, LockKey};
use crate::metadata::Metadata;
use crate::unit_graph::{Classified, Lto, Side};

pub type Features = BTreeSet<String>;
/// package id → variant → features.
pub type Entries = BTreeMap<String, BTreeMap<String, Features>>;

/// The parts of the synthetic crate. Each is a separate package because cargo applies a feature
/// request `dep/f` to every dependency of a package named `dep`, host and target alike, and
/// refuses one package depending on another under two names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    /// Target-side libraries of `cargo build` (the root package's own dependencies).
    Normal,
    /// Host-side libraries (build-dependencies and proc-macros' dependencies): a helper package
    /// that the root uses as a build-dependency, so all of it compiles for the host.
    Host,
    /// What `cargo test` compiles beyond `cargo build`: a helper package used as a
    /// dev-dependency, so its feature requests count only in test builds.
    Dev,
    /// Target-side libraries that cargo embeds as object code and bitcode (LTO with a cdylib or
    /// staticlib root): a helper library with those crate types.
    Objects,
    /// Host-side libraries whose features only the test build needs: a proc-macro helper used as
    /// a dev-dependency, so its dependencies compile for the host in test builds only.
    DevHost,
    /// Object code only the test build needs (a cdylib/staticlib member reaching a package
    /// through a dev-dependency's features): like `Objects`, but a dev-dependency, so it never
    /// unifies features into the layer's `cargo build`.
    DevObjects,
}

impl Part {
    pub const ALL: [Part; 6] = [
        Part::Normal,
        Part::Host,
        Part::Dev,
        Part::Objects,
        Part::DevHost,
        Part::DevObjects,
    ];
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageInfo {
    pub name: String,
    pub version: String,
    pub source: String,
}

#[derive(Debug, Default, Clone)]
pub struct LayerContents {
    pub variants: Vec<String>,
    pub packages: BTreeMap<String, PackageInfo>,
    pub parts: BTreeMap<Part, Entries>,
    /// The crate types the Objects helper needs (those of the members that cause it).
    pub object_crate_types: BTreeSet<String>,
    /// Whether a member has a binary target (mirrored so the layer links like the members do).
    pub has_bin: bool,
    /// Package id → the `target` condition under which the workspace needs it.
    pub conditions: BTreeMap<String, String>,
    /// External packages of the workspace lock that the parts alone leave out of the layer's lock
    /// (optional dependencies no variant enables, other members' dependencies under a package
    /// selection), keyed by `name version source`. The real build still resolves its whole lock,
    /// so the layer's lock (what `verify --vendored` or a build vendoring it alone resolves from)
    /// must keep them: declared, never built.
    pub never_built: BTreeMap<String, PackageInfo>,
}

/// The external units of one variant, per command.
#[derive(Debug, Default)]
pub struct VariantUnits {
    pub build: Vec<Classified>,
    pub test: Vec<Classified>,
}

impl VariantUnits {
    /// The binary targets of local packages the real build compiles.
    pub fn binaries(&self, local: &BTreeSet<String>) -> BTreeSet<String> {
        self.build
            .iter()
            .map(|classified| &classified.unit)
            .filter(|unit| {
                local.contains(&unit.pkg_id)
                    && unit.mode == "build"
                    && unit.target.kind.iter().any(|kind| kind == "bin")
            })
            .map(|unit| unit.target.name.clone())
            .collect()
    }

    /// The local packages the real build compiles (the selection and the path crates it uses).
    fn local_packages<'a>(&'a self, local: &BTreeSet<String>) -> impl Iterator<Item = &'a String> {
        self.build
            .iter()
            .chain(&self.test)
            .map(|classified| &classified.unit.pkg_id)
            .filter(move |id| local.contains(*id))
    }
}

type Sided = BTreeMap<(String, Side), Features>;

fn library_features(
    units: &[Classified],
    local: &BTreeSet<String>,
) -> (Sided, BTreeSet<String>, BTreeSet<String>) {
    let mut features = Sided::new();
    let mut proc_macros = BTreeSet::new();
    let mut objects = BTreeSet::new();
    for classified in units {
        let unit = &classified.unit;
        if local.contains(&unit.pkg_id) || !unit.is_library_build() {
            continue;
        }
        features
            .entry((unit.pkg_id.clone(), classified.side))
            .or_default()
            .extend(unit.features.iter().cloned());
        if unit.is_proc_macro() {
            proc_macros.insert(unit.pkg_id.clone());
        }
        if classified.side == Side::Target && classified.lto == Lto::ObjectAndBitcode {
            objects.insert(unit.pkg_id.clone());
        }
    }
    (features, proc_macros, objects)
}

impl LayerContents {
    /// Records the external packages of the workspace lock that the layer's lock, as cargo
    /// completed it for the parts alone, lacks. `local` (the lock keys of the local packages,
    /// registry crates that depend on a local one included) stays out: declaring such a crate
    /// would pull its local dependency from the registry.
    pub fn keep_resolvable(
        &mut self,
        workspace_lock: &LockFile,
        layer_lock: &LockFile,
        local: &BTreeSet<LockKey>,
    ) {
        self.never_built = workspace_lock
            .packages
            .keys()
            .filter(|key| {
                !key.2.is_empty()
                    && !local.contains(*key)
                    && !layer_lock.packages.contains_key(*key)
            })
            .map(|(name, version, source)| {
                (
                    format!("{name} {version} {source}"),
                    PackageInfo {
                        name: name.clone(),
                        version: version.clone(),
                        source: source.clone(),
                    },
                )
            })
            .collect();
    }

    pub fn new(
        metadata: &Metadata,
        local: &BTreeSet<String>,
        units: &BTreeMap<String, VariantUnits>,
    ) -> LayerContents {
        let mut plan = LayerContents {
            variants: units.keys().cloned().collect(),
            ..LayerContents::default()
        };
        for part in Part::ALL {
            plan.parts.insert(part, Entries::new());
        }
        for (variant, variant_units) in units {
            let (build, _, objects) = library_features(&variant_units.build, local);
            let (test, proc_macros, test_objects) = library_features(&variant_units.test, local);
            let mut add = |part: Part, pkg: &str, features: &Features| {
                plan.parts
                    .entry(part)
                    .or_default()
                    .entry(pkg.to_string())
                    .or_default()
                    .insert(variant.clone(), features.clone());
            };
            for ((pkg, side), features) in &build {
                match side {
                    Side::Target => add(Part::Normal, pkg, features),
                    Side::Host => add(Part::Host, pkg, features),
                }
            }
            for ((pkg, side), features) in &test {
                if build.get(&(pkg.clone(), *side)) == Some(features) {
                    continue;
                }
                if *side == Side::Target || proc_macros.contains(pkg) {
                    add(Part::Dev, pkg, features);
                } else {
                    add(Part::DevHost, pkg, features);
                }
            }
            for pkg in &objects {
                if let Some(features) = build.get(&(pkg.clone(), Side::Target)) {
                    add(Part::Objects, pkg, features);
                }
            }
            for pkg in test_objects.difference(&objects) {
                if let Some(features) = test.get(&(pkg.clone(), Side::Target)) {
                    add(Part::DevObjects, pkg, features);
                }
            }
        }
        for entries in plan.parts.values() {
            for pkg in entries.keys() {
                if let Some(package) = metadata.package(pkg) {
                    plan.packages.insert(
                        pkg.clone(),
                        PackageInfo {
                            name: package.name.clone(),
                            version: package.version.clone(),
                            source: package.source.clone().unwrap_or_default(),
                        },
                    );
                }
            }
        }
        plan.conditions = crate::platform::conditions(metadata, local)
            .into_iter()
            .filter(|(id, _)| plan.packages.contains_key(id))
            .collect();
        // Linking and crate types mirror only the members the variants' selections build.
        let built: BTreeSet<&String> = units
            .values()
            .flat_map(|variant_units| variant_units.local_packages(local))
            .collect();
        for package in &metadata.packages {
            if !built.contains(&package.id) {
                continue;
            }
            for target in &package.targets {
                if target.kind.iter().any(|kind| kind == "bin") {
                    plan.has_bin = true;
                }
                let types = &target.crate_types;
                if types.iter().any(|t| t == "cdylib" || t == "staticlib") {
                    // The helper is a dependency of the root, which links only rlibs.
                    plan.object_crate_types.insert("rlib".to_string());
                    plan.object_crate_types.extend(
                        types
                            .iter()
                            .filter(|t| *t != "proc-macro" && *t != "bin")
                            .map(|t| {
                                if t == "lib" {
                                    "rlib".to_string()
                                } else {
                                    t.clone()
                                }
                            }),
                    );
                }
            }
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::unit_graph::{Unit, UnitProfile, UnitTarget};

    const CRATES_IO: &str = "registry+https://github.com/rust-lang/crates.io-index";

    fn id(name: &str, version: &str) -> String {
        format!("{CRATES_IO}#{name}@{version}")
    }

    fn metadata(packages: &[(&str, &str)]) -> Metadata {
        let packages: Vec<serde_json::Value> = packages
            .iter()
            .map(|(name, version)| {
                serde_json::json!({
                    "id": id(name, version), "name": name, "version": version,
                    "source": CRATES_IO, "targets": [], "manifest_path": "/x/Cargo.toml"
                })
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "packages": packages, "workspace_members": [], "resolve": null, "workspace_root": "/x"
        }))
        .unwrap()
    }

    fn lib(name: &str, version: &str, features: &[&str], side: Side, lto: Lto) -> Classified {
        Classified {
            index: 0,
            unit: Unit {
                pkg_id: id(name, version),
                target: UnitTarget {
                    kind: vec!["lib".into()],
                    crate_types: vec!["lib".into()],
                    name: name.into(),
                },
                profile: UnitProfile {
                    name: "release".into(),
                    opt_level: "3".into(),
                    lto: "thin".into(),
                    debuginfo: None,
                    debug_assertions: false,
                    overflow_checks: false,
                    panic: "unwind".into(),
                    codegen_units: None,
                },
                mode: "build".into(),
                features: features.iter().map(|f| f.to_string()).collect(),
                dependencies: Vec::new(),
            },
            side,
            lto,
        }
    }

    fn part(plan: &LayerContents, part: Part) -> Vec<&str> {
        plan.parts[&part].keys().map(String::as_str).collect()
    }

    #[test]
    fn test_only_object_code_and_host_features_go_to_dev_side_helpers() {
        let metadata = metadata(&[
            ("getrandom", "0.2.17"),
            ("rand_core", "0.6.4"),
            ("memchr", "2.8.3"),
        ]);
        let build = vec![
            lib(
                "getrandom",
                "0.2.17",
                &[],
                Side::Target,
                Lto::ObjectAndBitcode,
            ),
            lib("memchr", "2.8.3", &[], Side::Host, Lto::OnlyObject),
        ];
        let test = vec![
            lib(
                "getrandom",
                "0.2.17",
                &["std"],
                Side::Target,
                Lto::ObjectAndBitcode,
            ),
            lib(
                "rand_core",
                "0.6.4",
                &["std"],
                Side::Target,
                Lto::ObjectAndBitcode,
            ),
            lib("memchr", "2.8.3", &["std"], Side::Host, Lto::OnlyObject),
        ];
        let units = BTreeMap::from([("cpu".to_string(), VariantUnits { build, test })]);
        let plan = LayerContents::new(&metadata, &BTreeSet::new(), &units);
        assert_eq!(part(&plan, Part::Objects), [id("getrandom", "0.2.17")]);
        assert_eq!(part(&plan, Part::DevObjects), [id("rand_core", "0.6.4")]);
        assert_eq!(part(&plan, Part::Host), [id("memchr", "2.8.3")]);
        assert_eq!(part(&plan, Part::DevHost), [id("memchr", "2.8.3")]);
        assert_eq!(
            plan.parts[&Part::DevHost][&id("memchr", "2.8.3")]["cpu"],
            Features::from(["std".to_string()])
        );
    }

    #[test]
    fn packages_no_build_compiles_are_kept_resolvable() {
        let metadata = metadata(&[("memchr", "2.8.3")]);
        let units = BTreeMap::from([(
            "cpu".to_string(),
            VariantUnits {
                build: vec![lib("memchr", "2.8.3", &[], Side::Target, Lto::OnlyBitcode)],
                test: Vec::new(),
            },
        )]);
        let mut plan = LayerContents::new(&metadata, &BTreeSet::new(), &units);
        let package = |name: &str, version: &str, source: &str| {
            format!(
                "[[package]]\nname = \"{name}\"\nversion = \"{version}\"\nsource = \"{source}\"\n"
            )
        };
        let workspace_lock = format!(
            "version = 4\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\n{}{}{}{}",
            package("memchr", "2.8.3", CRATES_IO),
            package("itoa", "1.0.19", CRATES_IO),
            package("libc", "0.2.191", CRATES_IO),
            // A registry crate depending on a local one: local too, never declared.
            package("uses-local", "1.0.0", CRATES_IO),
        );
        let workspace_lock = LockFile::parse(Path::new("Cargo.lock"), &workspace_lock).unwrap();
        // What cargo completed for the parts alone: memchr and what it reached (libc).
        let layer_lock = format!(
            "version = 4\n[[package]]\nname = \"workspace-deps\"\nversion = \"0.0.0\"\n{}{}",
            package("memchr", "2.8.3", CRATES_IO),
            package("libc", "0.2.191", CRATES_IO),
        );
        let layer_lock = LockFile::parse(Path::new("x"), &layer_lock).unwrap();
        let local = BTreeSet::from([(
            "uses-local".to_string(),
            "1.0.0".to_string(),
            CRATES_IO.to_string(),
        )]);
        plan.keep_resolvable(&workspace_lock, &layer_lock, &local);
        let kept: Vec<&str> = plan
            .never_built
            .values()
            .map(|info| info.name.as_str())
            .collect();
        assert_eq!(kept, ["itoa"]);
    }
}
