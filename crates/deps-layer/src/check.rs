//! `check`: is the committed layer what `generate` would write?

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::generate::Layer;

/// The first difference between the layer on disk and the expected one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    Missing {
        file: String,
    },
    Extra {
        file: String,
    },
    Line {
        file: String,
        line: usize,
        expected: String,
        found: String,
    },
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Difference::Missing { file } => write!(f, "{file}: missing"),
            Difference::Extra { file } => write!(f, "{file}: not generated (left over)"),
            Difference::Line {
                file,
                line,
                expected,
                found,
            } => write!(
                f,
                "{file}:{line}: expected\n    {expected}\n  found\n    {found}"
            ),
        }
    }
}

/// Files under `dir`, relative, skipping build output that a local cargo run may leave there.
pub fn read_dir_files(dir: &Path) -> Result<BTreeMap<String, String>> {
    let mut files = BTreeMap::new();
    if !dir.exists() {
        return Ok(files);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let entries = std::fs::read_dir(&current).map_err(|source| Error::Read {
            path: current.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| Error::Read {
                path: current.clone(),
                source,
            })?;
            let path = entry.path();
            if path.is_dir() {
                if entry.file_name() != "target" {
                    stack.push(path);
                }
                continue;
            }
            let relative = path
                .strip_prefix(dir)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            let content = std::fs::read_to_string(&path).map_err(|source| Error::Read {
                path: path.clone(),
                source,
            })?;
            files.insert(relative, content);
        }
    }
    Ok(files)
}

pub fn first_difference(expected: &Layer, found: &BTreeMap<String, String>) -> Option<Difference> {
    let mut names: Vec<&String> = expected.files.keys().chain(found.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        match (expected.files.get(name), found.get(name)) {
            (Some(_), None) => return Some(Difference::Missing { file: name.clone() }),
            (None, Some(_)) => return Some(Difference::Extra { file: name.clone() }),
            (Some(want), Some(have)) if want != have => {
                let mut want_lines = want.lines();
                let mut have_lines = have.lines();
                let mut line = 1;
                loop {
                    match (want_lines.next(), have_lines.next()) {
                        (Some(a), Some(b)) if a == b => line += 1,
                        (a, b) => {
                            return Some(Difference::Line {
                                file: name.clone(),
                                line,
                                expected: a.unwrap_or("<end of file>").to_string(),
                                found: b.unwrap_or("<end of file>").to_string(),
                            });
                        }
                    }
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(files: &[(&str, &str)]) -> Layer {
        Layer {
            files: files
                .iter()
                .map(|(name, content)| (name.to_string(), content.to_string()))
                .collect(),
        }
    }

    #[test]
    fn names_the_first_differing_line() {
        let expected = layer(&[("Cargo.toml", "a\nb\nc\n")]);
        let found = layer(&[("Cargo.toml", "a\nx\nc\n")]).files;
        assert_eq!(
            first_difference(&expected, &found),
            Some(Difference::Line {
                file: "Cargo.toml".into(),
                line: 2,
                expected: "b".into(),
                found: "x".into(),
            })
        );
        assert_eq!(first_difference(&expected, &expected.files), None);
    }

    #[test]
    fn missing_and_left_over_files() {
        let expected = layer(&[("a", "1"), ("b", "2")]);
        assert_eq!(
            first_difference(&expected, &layer(&[("a", "1")]).files),
            Some(Difference::Missing { file: "b".into() })
        );
        assert_eq!(
            first_difference(
                &expected,
                &layer(&[("a", "1"), ("b", "2"), ("c", "3")]).files
            ),
            Some(Difference::Extra { file: "c".into() })
        );
    }
}
