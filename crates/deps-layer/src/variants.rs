//! The variants table: `[workspace.metadata.variants.<name>] features = [...]` (and optionally
//! `packages = [...]`, the members the variant builds) in the root manifest.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::metadata::Metadata;

/// The variant a workspace without a variants table gets.
pub const DEFAULT_VARIANT: &str = "default";

/// Variant name → what it builds, sorted by name.
pub type Variants = BTreeMap<String, Variant>;

/// One entry of the table. Unknown keys are errors, so a typo cannot silently empty a variant; a
/// new key is one field here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// The cargo features the variant enables (`package/feature` or a feature of every member).
    #[serde(default)]
    pub features: Vec<String>,
    /// The workspace members the variant builds and ships; None: the command line's selection.
    #[serde(default)]
    pub packages: Option<Vec<String>>,
}

impl Variant {
    pub fn with_features(features: &[&str]) -> Variant {
        Variant {
            features: features.iter().map(|feature| feature.to_string()).collect(),
            packages: None,
        }
    }

    /// The real build's package selection: `--package` per listed member, else `cli_selection`.
    pub fn selection(&self, cli_selection: &[String]) -> Vec<String> {
        match &self.packages {
            None => cli_selection.to_vec(),
            Some(packages) => packages
                .iter()
                .flat_map(|package| ["--package".to_string(), package.clone()])
                .collect(),
        }
    }
}

/// Names the flake and Cargo give a meaning of their own: `default` is Cargo's default feature
/// (always on, so the variant would land in the common layer), `common` is the flake's shared
/// layer (`deps-common`).
const RESERVED: [(&str, &str); 2] = [
    (
        "default",
        "Cargo's default feature, which is always on, so the variant would land in the common layer",
    ),
    (
        "common",
        "the name of the layer every variant shares (the flake's `deps-common`)",
    ),
];

/// The form an entry must take, for the error messages.
fn accepted_form(name: &str) -> String {
    let usable = is_variant_name(name) && !RESERVED.iter().any(|(reserved, _)| *reserved == name);
    let name = if usable { name } else { "<name>" };
    format!(
        "write it as `{name} = {{ features = [\"<package>/<feature>\", ...] }}` (`{name} = {{}}` for none), \
         adding `packages = [\"<member>\", ...]` to build only those workspace members"
    )
}

pub fn read(manifest_path: &Path, manifest: &toml::Table) -> Result<Variants> {
    let table = manifest
        .get("workspace")
        .and_then(|workspace| workspace.get("metadata"))
        .and_then(|metadata| metadata.get("variants"));
    let Some(table) = table else {
        return Ok(BTreeMap::from([(
            DEFAULT_VARIANT.to_string(),
            Variant::default(),
        )]));
    };
    let bad_table = |message: String| Error::BadVariants {
        manifest: manifest_path.to_path_buf(),
        message,
    };
    let table = table.as_table().ok_or_else(|| {
        bad_table(format!(
            "it must be a table of variants, found {}; {}",
            with_article(table.type_str()),
            accepted_form("cuda")
        ))
    })?;
    if table.is_empty() {
        return Err(bad_table(format!(
            "it declares no variant; {}, or remove the table for the single variant `default`",
            accepted_form("cpu")
        )));
    }
    let mut variants = Variants::new();
    for (name, value) in table {
        let bad = |message: String| Error::BadVariant {
            manifest: manifest_path.to_path_buf(),
            variant: name.clone(),
            message: format!("{message}; {}", accepted_form(name)),
        };
        if let Some((_, why)) = RESERVED.iter().find(|(reserved, _)| reserved == name) {
            return Err(bad(format!("the name `{name}` is reserved: it is {why}")));
        }
        if !is_variant_name(name) {
            return Err(bad(format!(
                "the name `{name}` must start with a lowercase letter or digit and hold only \
                 lowercase letters, digits, `-` and `_` (it names a Cargo feature and the flake's outputs)"
            )));
        }
        if !value.is_table() {
            return Err(bad(format!(
                "a variant must be a table, found {}",
                with_article(value.type_str())
            )));
        }
        let entry: Variant = value
            .clone()
            .try_into()
            .map_err(|err: toml::de::Error| bad(err.message().trim().to_string()))?;
        if let Some(packages) = &entry.packages {
            if packages.is_empty() {
                return Err(bad(
                    "`packages = []` selects nothing; list the members the variant builds, or \
                     remove the key to build the command line's selection"
                        .to_string(),
                ));
            }
            let mut seen = std::collections::BTreeSet::new();
            if let Some(twice) = packages.iter().find(|package| !seen.insert(*package)) {
                return Err(bad(format!("`packages` names `{twice}` twice")));
            }
        }
        variants.insert(name.clone(), entry);
    }
    Ok(variants)
}

/// "an array", "a string": TOML's type names in a sentence.
fn with_article(type_name: &str) -> String {
    let article = if type_name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {type_name}")
}

/// `[a-z0-9][a-z0-9_-]*`: a valid Cargo feature name that the flake also accepts in its output names.
fn is_variant_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Every package a variant names must be a workspace member and every feature must exist on one,
/// as cargo would otherwise report it only in the middle of a build.
pub fn validate(manifest_path: &Path, variants: &Variants, metadata: &Metadata) -> Result<()> {
    let members: Vec<_> = metadata
        .packages
        .iter()
        .filter(|package| metadata.workspace_members.contains(&package.id))
        .collect();
    for (variant, entry) in variants {
        for package in entry.packages.iter().flatten() {
            if !members.iter().any(|member| &member.name == package) {
                let mut names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
                names.sort_unstable();
                return Err(Error::BadVariant {
                    manifest: manifest_path.to_path_buf(),
                    variant: variant.clone(),
                    message: format!(
                        "`packages` names `{package}`, which is not a member of the workspace \
                         (members: {}); {}",
                        names.join(", "),
                        accepted_form(variant)
                    ),
                });
            }
        }
        for feature in &entry.features {
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
            Variants::from([("default".to_string(), Variant::default())])
        );
    }

    #[test]
    fn reads_the_features_of_each_variant() {
        let variants = parse(
            "[workspace.metadata.variants]\ncpu = {}\ncuda = { features = [\"server/cuda\"] }\n",
        )
        .unwrap();
        assert_eq!(variants["cpu"].features, Vec::<String>::new());
        assert_eq!(variants["cuda"].features, ["server/cuda"]);
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn an_empty_variant_is_accepted() {
        let variants = parse("[workspace.metadata.variants]\ncpu = {}\n").unwrap();
        assert_eq!(
            variants,
            Variants::from([("cpu".to_string(), Variant::default())])
        );
    }

    #[test]
    fn refuses_an_unknown_key() {
        let err = error("[workspace.metadata.variants]\ncuda = { feature = [\"server/cuda\"] }\n");
        assert!(err.contains("Cargo.toml"), "{err}");
        assert!(err.contains("variants.cuda"), "{err}");
        assert!(err.contains("unknown field `feature`"), "{err}");
        assert!(
            err.contains("`cuda = { features = [\"<package>/<feature>\", ...] }`"),
            "{err}"
        );
    }

    #[test]
    fn refuses_a_variant_that_is_not_a_table() {
        let err = error("[workspace.metadata.variants]\ncuda = \"x\"\n");
        assert!(err.contains("variants.cuda"), "{err}");
        assert!(err.contains("must be a table, found a string"), "{err}");
        assert!(err.contains("cuda = { features = ["), "{err}");
    }

    #[test]
    fn refuses_features_that_are_not_a_list_of_strings() {
        let err = error("[workspace.metadata.variants]\ncuda = { features = \"server/cuda\" }\n");
        assert!(err.contains("variants.cuda"), "{err}");
        assert!(
            err.contains("invalid type: string \"server/cuda\""),
            "{err}"
        );
        let err = error("[workspace.metadata.variants]\ncuda = { features = [\"a/b\", 1] }\n");
        assert!(err.contains("invalid type: integer `1`"), "{err}");
    }

    #[test]
    fn refuses_reserved_and_malformed_names() {
        let err = error("[workspace.metadata.variants]\ndefault = { features = [\"a/b\"] }\n");
        assert!(err.contains("variants.default"), "{err}");
        assert!(err.contains("reserved"), "{err}");
        assert!(err.contains("Cargo's default feature"), "{err}");
        assert!(
            err.contains("write it as `<name> = { features = ["),
            "{err}"
        );
        let err = error("[workspace.metadata.variants]\ncommon = {}\n");
        assert!(err.contains("reserved"), "{err}");
        for name in ["Cuda", "-cuda", "\"cu.da\"", "\"cu+da\"", "\"\""] {
            let err = error(&format!("[workspace.metadata.variants]\n{name} = {{}}\n"));
            assert!(
                err.contains("must start with a lowercase letter"),
                "{name}: {err}"
            );
            assert!(err.contains("write it as `<name> = {"), "{name}: {err}");
        }
    }

    #[test]
    fn reads_the_packages_of_a_variant_and_its_selection() {
        let variants = parse(
            "[workspace.metadata.variants]\ncpu = { packages = [\"server\", \"cli\"] }\ngpu = {}\n",
        )
        .unwrap();
        let cli = ["--workspace".to_string()];
        assert_eq!(
            variants["cpu"].selection(&cli),
            ["--package", "server", "--package", "cli"]
        );
        assert_eq!(variants["gpu"].packages, None);
        assert_eq!(variants["gpu"].selection(&cli), ["--workspace"]);
    }

    #[test]
    fn refuses_empty_duplicate_or_mistyped_packages() {
        let err = error("[workspace.metadata.variants]\ncpu = { packages = [] }\n");
        assert!(err.contains("variants.cpu"), "{err}");
        assert!(err.contains("`packages = []` selects nothing"), "{err}");
        let err = error("[workspace.metadata.variants]\ncpu = { packages = [\"a\", \"a\"] }\n");
        assert!(err.contains("names `a` twice"), "{err}");
        let err = error("[workspace.metadata.variants]\ncpu = { packages = \"a\" }\n");
        assert!(err.contains("invalid type: string \"a\""), "{err}");
        assert!(err.contains("packages = [\"<member>\", ...]"), "{err}");
        let err = error("[workspace.metadata.variants]\ncpu = { package = [\"a\"] }\n");
        assert!(err.contains("unknown field `package`"), "{err}");
    }

    #[test]
    fn refuses_a_table_that_is_not_a_table_of_variants() {
        let err = error("[workspace.metadata]\nvariants = [\"cpu\"]\n");
        assert!(
            err.contains("[workspace.metadata.variants] is invalid"),
            "{err}"
        );
        assert!(
            err.contains("must be a table of variants, found an array"),
            "{err}"
        );
        let err = error("[workspace.metadata.variants]\n");
        assert!(err.contains("declares no variant"), "{err}");
    }
}
