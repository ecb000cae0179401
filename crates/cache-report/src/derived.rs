//! What `nix build --dry-run --json` prints on stdout: for each installable, its derivation
//! and output paths (`[{"drvPath": "...", "outputs": {"out": "..."}}]`). An output whose
//! path is not known before building (content-addressed derivations) is `null`; an
//! installable that is a plain store path has `path` instead of `drvPath`.

use serde_json::Value;

use crate::error::ParseError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derived {
    pub drv_path: Option<String>,
    pub out_paths: Vec<String>,
}

pub fn parse_derived_paths(stdout: &str) -> Result<Vec<Derived>, ParseError> {
    let invalid = |reason: &str| ParseError::Json {
        command: "nix build --dry-run --json".to_string(),
        reason: reason.to_string(),
    };
    let value: Value = serde_json::from_str(stdout.trim()).map_err(|e| invalid(&e.to_string()))?;
    let entries = value
        .as_array()
        .ok_or_else(|| invalid("expected an array"))?;
    entries
        .iter()
        .map(|entry| {
            let entry = entry
                .as_object()
                .ok_or_else(|| invalid("expected an object per installable"))?;
            if let Some(path) = entry.get("path").and_then(Value::as_str) {
                return Ok(Derived {
                    drv_path: None,
                    out_paths: vec![path.to_string()],
                });
            }
            // Dynamic derivations make `drvPath` an object; there is no path to compare then.
            let drv_path = entry
                .get("drvPath")
                .and_then(Value::as_str)
                .map(str::to_string);
            let out_paths = entry
                .get("outputs")
                .and_then(Value::as_object)
                .map(|outputs| {
                    outputs
                        .values()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            Ok(Derived {
                drv_path,
                out_paths,
            })
        })
        .collect()
}
