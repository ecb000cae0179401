//! cargo's `--unit-graph`: the exact units a command compiles, with their features, without
//! compiling anything. Which side (host or target) a unit is built for is derived from the edges:
//! build scripts and proc-macros make everything below them host code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;

use crate::cargo::Cargo;
use crate::error::{Error, Result};

#[derive(Debug, Deserialize)]
pub struct UnitGraph {
    pub units: Vec<Unit>,
    pub roots: Vec<usize>,
}

#[derive(Debug, Deserialize, Clone)]
pub struct Unit {
    pub pkg_id: String,
    pub target: UnitTarget,
    pub profile: UnitProfile,
    pub mode: String,
    #[serde(default)]
    pub features: Vec<String>,
    #[serde(default)]
    pub dependencies: Vec<UnitDep>,
}

#[derive(Debug, Deserialize, Clone)]
pub struct UnitTarget {
    pub kind: Vec<String>,
    #[serde(default)]
    pub crate_types: Vec<String>,
    pub name: String,
}

#[derive(Debug, Deserialize, Clone, PartialEq, Eq, Hash)]
pub struct UnitProfile {
    pub name: String,
    pub opt_level: String,
    pub lto: String,
    pub debuginfo: Option<u32>,
    pub debug_assertions: bool,
    pub overflow_checks: bool,
    pub panic: String,
    pub codegen_units: Option<u32>,
}

#[derive(Debug, Deserialize, Clone)]
pub struct UnitDep {
    pub index: usize,
}

/// Where a unit's code runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    Target,
    Host,
}

impl Side {
    pub fn describe(self) -> &'static str {
        match self {
            Side::Target => "target",
            Side::Host => "host",
        }
    }
}

/// How cargo embeds LTO data in a unit (mirrors cargo's own per-unit computation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lto {
    Run,
    Off,
    OnlyBitcode,
    ObjectAndBitcode,
    OnlyObject,
}

/// A unit with what was derived from the graph around it.
#[derive(Debug, Clone)]
pub struct Classified {
    /// Position in the graph's `units`, for following `unit.dependencies`.
    pub index: usize,
    pub unit: Unit,
    pub side: Side,
    pub lto: Lto,
}

impl Unit {
    pub fn is_build_script(&self) -> bool {
        self.target.kind.iter().any(|kind| kind == "custom-build")
    }

    pub fn is_proc_macro(&self) -> bool {
        self.target.kind.iter().any(|kind| kind == "proc-macro")
    }

    /// A library compiled as a dependency (not a test harness, doc or build script run).
    pub fn is_library_build(&self) -> bool {
        (self.mode == "build" || self.mode == "check")
            && self.target.kind.iter().any(|kind| {
                matches!(
                    kind.as_str(),
                    "lib" | "rlib" | "dylib" | "cdylib" | "staticlib" | "proc-macro"
                )
            })
    }
}

/// The selection and command a unit graph (and later a real build) is taken for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    Build,
    Test,
}

impl UnitGraph {
    pub fn load(
        cargo: &Cargo,
        dir: &Path,
        mode: Mode,
        selection: &[String],
        features: &[String],
    ) -> Result<UnitGraph> {
        let mut args: Vec<String> = match mode {
            Mode::Build => vec!["build".into()],
            Mode::Test => vec!["test".into(), "--no-run".into()],
        };
        args.extend(["--release", "--locked"].map(String::from));
        args.extend(selection.iter().cloned());
        if !features.is_empty() {
            args.push("--features".into());
            args.push(features.join(","));
        }
        UnitGraph::for_command(cargo, dir, &args)
    }

    /// The unit graph of a cargo command line (`build ...`, `test --no-run ...`).
    pub fn for_command(cargo: &Cargo, dir: &Path, command: &[String]) -> Result<UnitGraph> {
        let mut args: Vec<&str> = command.iter().map(String::as_str).collect();
        args.extend(["-Z", "unstable-options", "--unit-graph"]);
        let mut command = cargo.command(dir, &args);
        // The unit graph is only printed by an unstable flag; it reads the graph, builds nothing.
        command.env("RUSTC_BOOTSTRAP", "1");
        let output = cargo.output(&mut command, dir, &args)?;
        serde_json::from_slice(&output.stdout).map_err(|err| Error::Output {
            command: crate::cargo::display(&args),
            message: err.to_string(),
        })
    }

    /// How many `compiler-artifact` messages the command will print: one per unit except build
    /// script runs (they report `build-script-executed`) and doctests (`--no-run` skips them).
    pub fn artifact_count(&self) -> usize {
        self.units
            .iter()
            .filter(|unit| !matches!(unit.mode.as_str(), "run-custom-build" | "doctest"))
            .count()
    }

    /// Each unit with its side and LTO embedding, walking from the roots.
    pub fn classify(&self) -> Vec<Classified> {
        let mut sides: Vec<BTreeSet<Side>> = vec![BTreeSet::new(); self.units.len()];
        // A proc-macro member is itself host code, and so is everything it depends on.
        let mut stack: Vec<(usize, Side)> = self
            .roots
            .iter()
            .map(|&root| {
                let side = if self.units[root].is_proc_macro() {
                    Side::Host
                } else {
                    Side::Target
                };
                (root, side)
            })
            .collect();
        while let Some((index, side)) = stack.pop() {
            if !sides[index].insert(side) {
                continue;
            }
            let unit = &self.units[index];
            for dep in &unit.dependencies {
                let dep_unit = &self.units[dep.index];
                let dep_side = if side == Side::Host
                    || (unit.is_build_script() && unit.mode == "build")
                    || dep_unit.is_proc_macro()
                {
                    Side::Host
                } else {
                    Side::Target
                };
                stack.push((dep.index, dep_side));
            }
        }
        let lto = self.lto();
        let mut classified = Vec::new();
        for (index, unit) in self.units.iter().enumerate() {
            for &side in &sides[index] {
                classified.push(Classified {
                    index,
                    unit: unit.clone(),
                    side,
                    lto: lto.get(&index).copied().unwrap_or(Lto::OnlyObject),
                });
            }
        }
        classified
    }

    /// cargo's per-unit LTO decision (cargo/src/cargo/core/compiler/lto.rs), which is not part of
    /// the unit graph output but changes a unit's hash.
    fn lto(&self) -> BTreeMap<usize, Lto> {
        let mut map = BTreeMap::new();
        for &root in &self.roots {
            let unit = &self.units[root];
            let root_lto = match unit.profile.lto.as_str() {
                "false" => Lto::OnlyObject,
                "off" => Lto::Off,
                _ => {
                    let types = &unit.target.crate_types;
                    if unit.is_build_script() || unit.is_proc_macro() {
                        Lto::OnlyObject
                    } else if needs_object(types) {
                        lto_when_needs_object(types)
                    } else {
                        Lto::OnlyBitcode
                    }
                }
            };
            self.lto_walk(&mut map, root, root_lto);
        }
        map
    }

    fn lto_walk(&self, map: &mut BTreeMap<usize, Lto>, index: usize, parent: Lto) {
        let unit = &self.units[index];
        let types: Vec<String> = match unit.mode.as_str() {
            "test" | "bench" | "doctest" => vec!["bin".into()],
            _ => unit.target.crate_types.clone(),
        };
        let all_lto = types.iter().all(|t| can_lto(t));
        let lto = if unit.is_build_script() || unit.is_proc_macro() {
            Lto::OnlyObject
        } else if all_lto {
            match unit.profile.lto.as_str() {
                "off" => Lto::Off,
                "false" => Lto::OnlyObject,
                _ => Lto::Run,
            }
        } else {
            match (parent, needs_object(&types)) {
                (Lto::Run, false) => Lto::OnlyBitcode,
                (Lto::Run, true) | (Lto::OnlyBitcode, true) => lto_when_needs_object(&types),
                (Lto::Off, _) => Lto::Off,
                _ => parent,
            }
        };
        let merged = match map.get(&index) {
            None => lto,
            Some(&previous) => {
                let merged = match (lto, previous) {
                    (a, b) if a == b => a,
                    (Lto::Run, _) | (_, Lto::Run) => Lto::Run,
                    (Lto::Off, _) | (_, Lto::Off) => Lto::Off,
                    _ => Lto::ObjectAndBitcode,
                };
                if merged == previous {
                    return;
                }
                merged
            }
        };
        map.insert(index, merged);
        for dep in &unit.dependencies {
            self.lto_walk(map, dep.index, merged);
        }
    }
}

fn can_lto(crate_type: &str) -> bool {
    matches!(crate_type, "bin" | "staticlib" | "cdylib")
}

fn needs_object(types: &[String]) -> bool {
    types
        .iter()
        .any(|t| can_lto(t) || matches!(t.as_str(), "dylib" | "cdylib"))
}

fn lto_when_needs_object(types: &[String]) -> Lto {
    if types.iter().all(|t| t == "dylib") {
        Lto::OnlyObject
    } else {
        Lto::ObjectAndBitcode
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(
        pkg: &str,
        kind: &str,
        crate_types: &[&str],
        mode: &str,
        lto: &str,
        deps: &[usize],
    ) -> Unit {
        Unit {
            pkg_id: pkg.into(),
            target: UnitTarget {
                kind: vec![kind.into()],
                crate_types: crate_types.iter().map(|t| t.to_string()).collect(),
                name: pkg.into(),
            },
            profile: UnitProfile {
                name: "release".into(),
                opt_level: "3".into(),
                lto: lto.into(),
                debuginfo: Some(0),
                debug_assertions: false,
                overflow_checks: false,
                panic: "unwind".into(),
                codegen_units: None,
            },
            mode: mode.into(),
            features: Vec::new(),
            dependencies: deps.iter().map(|&index| UnitDep { index }).collect(),
        }
    }

    fn side_and_lto(graph: &UnitGraph, pkg: &str) -> Vec<(Side, Lto)> {
        graph
            .classify()
            .into_iter()
            .filter(|c| c.unit.pkg_id == pkg)
            .map(|c| (c.side, c.lto))
            .collect()
    }

    #[test]
    fn build_scripts_and_proc_macros_make_their_dependencies_host_code() {
        // 0 member lib -> 1 proc-macro -> 2 syn; 0 -> 3 run build script -> 4 build script -> 5 cc
        let graph = UnitGraph {
            units: vec![
                unit("member", "lib", &["lib"], "build", "false", &[1, 3]),
                unit(
                    "derive",
                    "proc-macro",
                    &["proc-macro"],
                    "build",
                    "false",
                    &[2],
                ),
                unit("syn", "lib", &["lib"], "build", "false", &[]),
                unit(
                    "member",
                    "custom-build",
                    &["bin"],
                    "run-custom-build",
                    "false",
                    &[4],
                ),
                unit("member", "custom-build", &["bin"], "build", "false", &[5]),
                unit("cc", "lib", &["lib"], "build", "false", &[]),
            ],
            roots: vec![0],
        };
        assert_eq!(side_and_lto(&graph, "syn")[0].0, Side::Host);
        assert_eq!(side_and_lto(&graph, "cc")[0].0, Side::Host);
        assert_eq!(side_and_lto(&graph, "member")[0].0, Side::Target);
    }

    #[test]
    fn a_proc_macro_member_is_a_host_root() {
        // 0 proc-macro member -> 1 syn; 2 lib member -> 3 syn (the run-time one)
        let graph = UnitGraph {
            units: vec![
                unit(
                    "derive",
                    "proc-macro",
                    &["proc-macro"],
                    "build",
                    "false",
                    &[1],
                ),
                unit("syn", "lib", &["lib"], "build", "false", &[]),
                unit("runtime", "lib", &["lib"], "build", "false", &[3]),
                unit("syn", "lib", &["lib"], "build", "false", &[]),
            ],
            roots: vec![0, 2],
        };
        let sides: Vec<Side> = graph
            .classify()
            .into_iter()
            .filter(|c| c.unit.pkg_id == "syn")
            .map(|c| c.side)
            .collect();
        assert_eq!(sides, [Side::Host, Side::Target]);
    }

    #[test]
    fn lto_embedding_follows_the_roots_crate_types() {
        // 0 bin -> 2 a; 1 cdylib+rlib -> 3 b; both -> 4 c
        let graph = UnitGraph {
            units: vec![
                unit("app", "bin", &["bin"], "build", "thin", &[2, 4]),
                unit("ffi", "lib", &["cdylib", "rlib"], "build", "thin", &[3, 4]),
                unit("a", "lib", &["lib"], "build", "thin", &[]),
                unit("b", "lib", &["lib"], "build", "thin", &[]),
                unit("c", "lib", &["lib"], "build", "thin", &[]),
            ],
            roots: vec![0, 1],
        };
        assert_eq!(
            side_and_lto(&graph, "a"),
            [(Side::Target, Lto::OnlyBitcode)]
        );
        assert_eq!(
            side_and_lto(&graph, "b"),
            [(Side::Target, Lto::ObjectAndBitcode)]
        );
        assert_eq!(
            side_and_lto(&graph, "c"),
            [(Side::Target, Lto::ObjectAndBitcode)]
        );
    }
}
