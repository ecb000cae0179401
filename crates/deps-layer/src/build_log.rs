//! cargo's `--message-format=json` output: which units a command compiled and which it reused.

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
        .filter(|line| line.starts_with('{'))
        .filter(|line| {
            serde_json::from_str::<Message>(line)
                .map(|message| message.reason == "compiler-artifact")
                .unwrap_or(false)
        })
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}
