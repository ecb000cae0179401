//! Reading cargo's `--message-format=json` output: which compilation units were really compiled
//! (`fresh: false`) and which were reused from the target dir, split into external and local
//! packages.

use serde::Deserialize;

/// One `compiler-artifact` message, reduced to what the benchmark counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    pub package_id: String,
    pub target_name: String,
    pub fresh: bool,
}

impl Artifact {
    /// Registry and git packages are external; `path+file://` packages (members, local path
    /// dependencies, local patches) are the workspace's own code, which any layer must leave to
    /// the final build.
    pub fn is_external(&self) -> bool {
        !is_local_package_id(&self.package_id)
    }
}

/// Both package-id spellings cargo has used: `path+file:///dir#name@1.0.0` (1.77+) and
/// `name 1.0.0 (path+file:///dir)` (older).
pub fn is_local_package_id(package_id: &str) -> bool {
    package_id.starts_with("path+file://") || package_id.contains("(path+file://")
}

#[derive(Deserialize)]
struct RawMessage {
    reason: String,
    package_id: Option<String>,
    target: Option<RawTarget>,
    fresh: Option<bool>,
}

#[derive(Deserialize)]
struct RawTarget {
    name: String,
}

/// The `compiler-artifact` messages of cargo's JSON stream. Lines that are not JSON objects
/// (a tool printing to stdout) and other message kinds are skipped: cargo documents that new
/// reasons may appear.
pub fn parse_artifacts(stdout: &str) -> Vec<Artifact> {
    stdout
        .lines()
        .filter(|line| line.trim_start().starts_with('{'))
        .filter_map(|line| serde_json::from_str::<RawMessage>(line).ok())
        .filter(|msg| msg.reason == "compiler-artifact")
        .filter_map(|msg| {
            Some(Artifact {
                package_id: msg.package_id?,
                target_name: msg.target?.name,
                fresh: msg.fresh.unwrap_or(false),
            })
        })
        .collect()
}

/// What one or more cargo invocations compiled, by origin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitCounts {
    pub external_compiled: usize,
    pub external_fresh: usize,
    pub local_compiled: usize,
    /// `package_id` of each external unit compiled, so a report can name what the layer missed.
    pub external_compiled_ids: Vec<String>,
}

pub fn count_units(artifacts: &[Artifact]) -> UnitCounts {
    let mut counts = UnitCounts::default();
    for artifact in artifacts {
        match (artifact.is_external(), artifact.fresh) {
            (true, false) => {
                counts.external_compiled += 1;
                counts
                    .external_compiled_ids
                    .push(artifact.package_id.clone());
            }
            (true, true) => counts.external_fresh += 1,
            (false, false) => counts.local_compiled += 1,
            (false, true) => {}
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    // Shapes copied from real `cargo build --message-format=json` output (cargo 1.95).
    const STREAM: &str = r#"{"reason":"compiler-artifact","package_id":"registry+https://github.com/rust-lang/crates.io-index#serde@1.0.228","manifest_path":"/r/serde/Cargo.toml","target":{"kind":["lib"],"crate_types":["lib"],"name":"serde","src_path":"/r/serde/src/lib.rs","edition":"2021","doc":true,"doctest":true,"test":true},"profile":{"opt_level":"3","debuginfo":0,"debug_assertions":false,"overflow_checks":false,"test":false},"features":["std"],"filenames":["/t/libserde.rlib"],"executable":null,"fresh":true}
{"reason":"compiler-artifact","package_id":"registry+https://github.com/rust-lang/crates.io-index#libc@0.2.177","manifest_path":"/r/libc/Cargo.toml","target":{"kind":["custom-build"],"crate_types":["bin"],"name":"build-script-build","src_path":"/r/libc/build.rs","edition":"2021","doc":false,"doctest":false,"test":false},"profile":{"opt_level":"0","debuginfo":0,"debug_assertions":false,"overflow_checks":false,"test":false},"features":[],"filenames":["/t/build-script-build"],"executable":null,"fresh":false}
{"reason":"build-script-executed","package_id":"registry+https://github.com/rust-lang/crates.io-index#libc@0.2.177","linked_libs":[],"linked_paths":[],"cfgs":[],"env":[],"out_dir":"/t/out"}
{"reason":"compiler-artifact","package_id":"path+file:///w/crates/knn-core#0.1.0","manifest_path":"/w/crates/knn-core/Cargo.toml","target":{"kind":["lib"],"crate_types":["lib"],"name":"knn_core","src_path":"/w/crates/knn-core/src/lib.rs","edition":"2024","doc":true,"doctest":true,"test":true},"profile":{"opt_level":"3","debuginfo":0,"debug_assertions":false,"overflow_checks":false,"test":false},"features":[],"filenames":["/t/libknn_core.rlib"],"executable":null,"fresh":false}
{"reason":"compiler-artifact","package_id":"git+https://github.com/o/r?rev=abc#abc@0.3.0","manifest_path":"/g/Cargo.toml","target":{"kind":["lib"],"crate_types":["lib"],"name":"abc","src_path":"/g/src/lib.rs","edition":"2021","doc":true,"doctest":true,"test":true},"profile":{"opt_level":"3","debuginfo":0,"debug_assertions":false,"overflow_checks":false,"test":false},"features":[],"filenames":[],"executable":null,"fresh":false}
{"reason":"build-finished","success":true}
"#;

    #[test]
    fn parses_only_compiler_artifacts() {
        let artifacts = parse_artifacts(STREAM);
        let names: Vec<_> = artifacts.iter().map(|a| a.target_name.as_str()).collect();
        assert_eq!(names, ["serde", "build-script-build", "knn_core", "abc"]);
        assert!(artifacts[0].fresh);
        assert!(!artifacts[1].fresh);
    }

    #[test]
    fn counts_registry_and_git_units_as_external_and_path_units_as_local() {
        let counts = count_units(&parse_artifacts(STREAM));
        assert_eq!(counts.external_compiled, 2);
        assert_eq!(counts.external_fresh, 1);
        assert_eq!(counts.local_compiled, 1);
        assert_eq!(
            counts.external_compiled_ids,
            [
                "registry+https://github.com/rust-lang/crates.io-index#libc@0.2.177",
                "git+https://github.com/o/r?rev=abc#abc@0.3.0"
            ]
        );
    }

    #[test]
    fn recognises_the_old_package_id_spelling() {
        assert!(is_local_package_id(
            "knn-core 0.1.0 (path+file:///w/crates/knn-core)"
        ));
        assert!(!is_local_package_id(
            "serde 1.0.0 (registry+https://github.com/rust-lang/crates.io-index)"
        ));
    }

    #[test]
    fn skips_non_json_lines_and_truncated_messages() {
        let stream = "Finished release\n{\"reason\":\"compiler-artifact\",\"package_id\"\n";
        assert!(parse_artifacts(stream).is_empty());
    }
}
