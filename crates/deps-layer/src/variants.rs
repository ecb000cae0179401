//! The variants table: `[workspace.metadata.variants.<name>] features = [...]` in the root manifest.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::metadata::Metadata;

/// The variant a workspace without a variants table gets.
pub const DEFAULT_VARIANT: &str = "default";

/// Variant name → the cargo features it enables, sorted by name.
pub type Variants = BTreeMap<String, Vec<String>>;

pub fn read(manifest_path: &Path, manifest: &toml::Table) -> Result<Variants> {
    let table = manifest
        .get("workspace")
        .and_then(|workspace| workspace.get("metadata"))
        .and_then(|metadata| metadata.get("variants"));
    let Some(table) = table else {
        return Ok(BTreeMap::from([(DEFAULT_VARIANT.to_string(), Vec::new())]));
    };
    let bad = |variant: &str, message: &str| Error::BadVariant {
        manifest: manifest_path.to_path_buf(),
        variant: variant.to_string(),
        message: message.to_string(),
    };
    let table = table
        .as_table()
        .ok_or_else(|| bad("", "must be a table of variants"))?;
    let mut variants = Variants::new();
    for (name, value) in table {
        if !is_feature_name(name) {
            return Err(bad(name, "the name must be usable as a Cargo feature name"));
        }
        let features = match value.get("features") {
            None => Vec::new(),
            Some(features) => features
                .as_array()
                .ok_or_else(|| bad(name, "`features` must be an array of strings"))?
                .iter()
                .map(|feature| {
                    feature
                        .as_str()
                        .map(String::from)
                        .ok_or_else(|| bad(name, "`features` must be an array of strings"))
                })
                .collect::<Result<Vec<_>>>()?,
        };
        variants.insert(name.clone(), features);
    }
    if variants.is_empty() {
        return Err(bad("", "declares no variant"));
    }
    Ok(variants)
}

fn is_feature_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Every feature a variant names must exist on a workspace member, as cargo would otherwise
/// report it only in the middle of a build.
pub fn validate(manifest_path: &Path, variants: &Variants, metadata: &Metadata) -> Result<()> {
    let members: Vec<_> = metadata
        .packages
        .iter()
        .filter(|package| metadata.workspace_members.contains(&package.id))
        .collect();
    for (variant, features) in variants {
        for feature in features {
            let exists = match feature.split_once('/') {
                Some((package, name)) => members.iter().any(|member| {
                    member.name == package
                        && (member.features.contains_key(name) || name == "default")
                }),
                None => members
                    .iter()
                    .any(|member| member.features.contains_key(feature.as_str())),
            };
            if !exists {
                return Err(Error::UnknownFeature {
                    manifest: manifest_path.to_path_buf(),
                    variant: variant.clone(),
                    feature: feature.clone(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Variants> {
        read(Path::new("Cargo.toml"), &text.parse().unwrap())
    }

    #[test]
    fn a_workspace_without_the_table_has_one_default_variant() {
        let variants = parse("[workspace]\nmembers = []\n").unwrap();
        assert_eq!(
            variants,
            Variants::from([("default".to_string(), Vec::new())])
        );
    }

    #[test]
    fn reads_the_features_of_each_variant() {
        let variants = parse(
            "[workspace.metadata.variants]\ncpu = {}\ncuda = { features = [\"server/cuda\"] }\n",
        )
        .unwrap();
        assert_eq!(variants["cpu"], Vec::<String>::new());
        assert_eq!(variants["cuda"], ["server/cuda"]);
    }

    #[test]
    fn refuses_features_that_are_not_strings() {
        let err = parse("[workspace.metadata.variants]\ncuda = { features = \"server/cuda\" }\n")
            .unwrap_err();
        assert!(err.to_string().contains("variants.cuda"), "{err}");
    }
}
