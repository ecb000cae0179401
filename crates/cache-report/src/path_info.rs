//! Sizes of store paths in a binary cache, from `nix path-info --json --store <cache>`.
//!
//! Nix before 2.19 prints an array of objects with a `path` key (`"valid": false` for a path
//! the store lacks); later versions print an object keyed by path (`null` for a missing
//! one). `downloadSize` is the compressed file a client downloads, `narSize` the unpacked size.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::ParseError;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PathSizes {
    pub download_bytes: Option<u64>,
    pub nar_bytes: Option<u64>,
}

/// Sizes of the paths the store has; paths it lacks are left out.
pub fn parse_path_info(stdout: &str) -> Result<BTreeMap<String, PathSizes>, ParseError> {
    let invalid = |reason: String| ParseError::Json {
        command: "nix path-info --json".to_string(),
        reason,
    };
    let value: Value = serde_json::from_str(stdout.trim()).map_err(|e| invalid(e.to_string()))?;
    let mut sizes = BTreeMap::new();
    match value {
        Value::Array(entries) => {
            for entry in entries {
                let Value::Object(info) = entry else {
                    return Err(invalid("expected an object per path".to_string()));
                };
                let Some(path) = info.get("path").and_then(Value::as_str) else {
                    return Err(invalid("an entry without `path`".to_string()));
                };
                if info.get("valid").and_then(Value::as_bool) == Some(false) {
                    continue;
                }
                sizes.insert(path.to_string(), sizes_of(&info));
            }
        }
        Value::Object(by_path) => {
            for (path, info) in by_path {
                match info {
                    Value::Object(info) => {
                        sizes.insert(path, sizes_of(&info));
                    }
                    Value::Null => {}
                    _ => return Err(invalid(format!("`{path}`: expected an object or null"))),
                }
            }
        }
        _ => return Err(invalid("expected an array or an object".to_string())),
    }
    Ok(sizes)
}

fn sizes_of(info: &Map<String, Value>) -> PathSizes {
    PathSizes {
        download_bytes: info.get("downloadSize").and_then(Value::as_u64),
        nar_bytes: info.get("narSize").and_then(Value::as_u64),
    }
}
