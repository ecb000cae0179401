//! cargo's `--message-format=json` output: which units a command compiled and which it reused,
//! split into external packages and the workspace's own. The one reader of these messages for
//! deps-layer (verify, progress) and layer-bench.

use serde::Deserialize;

#[derive(Debug, Deserialize, Clone)]
pub struct Artifact {
    pub package_id: String,
    pub target: ArtifactTarget,
    pub profile: ArtifactProfile,
    #[serde(default)]
    pub features: Vec<String>,
    #[serde(default)]
    pub filenames: Vec<String>,
    pub fresh: bool,
}

#[derive(Debug, Deserialize, Clone)]
pub struct ArtifactTarget {
    pub name: String,
    pub kind: Vec<String>,
    #[serde(default)]
    pub crate_types: Vec<String>,
}

#[derive(Debug, Deserialize, Clone, PartialEq, Eq)]
pub struct ArtifactProfile {
    pub opt_level: String,
    pub test: bool,
}

#[derive(Deserialize)]
struct Message {
    reason: String,
    #[serde(default)]
    fresh: bool,
}

/// The message kind and freshness of one line, None for a line that is not a JSON message (a
/// tool printing to stdout, a truncated line). cargo documents that new reasons may appear.
fn message(line: &str) -> Option<Message> {
    let line = line.trim_start();
    if !line.starts_with('{') {
        return None;
    }
    serde_json::from_str(line).ok()
}

/// `Some(fresh)` for a `compiler-artifact` message, `None` for any other line: enough to count
/// units as they finish, whatever else the message holds.
pub fn artifact_freshness(line: &str) -> Option<bool> {
    message(line)
        .filter(|message| message.reason == "compiler-artifact")
        .map(|message| message.fresh)
}

/// Both package-id spellings cargo has used: `path+file:///dir#name@1.0.0` (1.77+) and
/// `name 1.0.0 (path+file:///dir)` (older). Path packages (members, local path dependencies,
/// local patches) are the workspace's own code, which any layer leaves to the real build.
pub fn is_local_package_id(package_id: &str) -> bool {
    package_id.starts_with("path+file://") || package_id.contains("(path+file://")
}

impl Artifact {
    /// One unit: the same package, target, features and output file name (the name carries
    /// cargo's unit hash; the folder differs between copies of a target dir).
    pub fn unit_key(&self) -> String {
        format!(
            "{} {} {:?} {}",
            self.package_id,
            self.target.name,
            self.features,
            self.filenames
                .first()
                .and_then(|file| file.rsplit('/').next())
                .unwrap_or("")
        )
    }

    /// Registry and git packages are external.
    pub fn is_external(&self) -> bool {
        !is_local_package_id(&self.package_id)
    }

    pub fn describe(&self) -> String {
        let name = package_name(&self.package_id);
        let kind = self.target.kind.join(",");
        format!("{name} ({kind}, opt-level {})", self.profile.opt_level)
    }
}

/// `name@version` out of a package id (`registry+...#name@1.0.0`, `path+file:///x#0.1.0`).
pub fn package_name(package_id: &str) -> String {
    let tail = package_id.rsplit('#').next().unwrap_or(package_id);
    if tail.contains('@') {
        return tail.to_string();
    }
    let base = package_id
        .split('#')
        .next()
        .unwrap_or(package_id)
        .rsplit('/')
        .next()
        .unwrap_or(package_id);
    format!("{base}@{tail}")
}

/// The compiler artifacts among cargo's JSON messages; other lines are skipped.
pub fn artifacts(stdout: &[u8]) -> Vec<Artifact> {
    let text = String::from_utf8_lossy(stdout);
    text.lines()
        .filter(|line| artifact_freshness(line).is_some())
        .filter_map(|line| serde_json::from_str(line.trim_start()).ok())
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
        let artifacts = artifacts(STREAM.as_bytes());
        let names: Vec<_> = artifacts.iter().map(|a| a.target.name.as_str()).collect();
        assert_eq!(names, ["serde", "build-script-build", "knn_core", "abc"]);
        assert!(artifacts[0].fresh);
        assert!(!artifacts[1].fresh);
    }

    #[test]
    fn counts_registry_and_git_units_as_external_and_path_units_as_local() {
        let counts = count_units(&artifacts(STREAM.as_bytes()));
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
        assert!(artifacts(stream.as_bytes()).is_empty());
    }
}
