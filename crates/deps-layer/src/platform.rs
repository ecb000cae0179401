//! On which platforms the workspace needs a package: the `target` conditions along every path from
//! a local crate to it, so the layer keeps `[target.'cfg(..)'.dependencies]` tables and does not
//! compile platform-specific crates on other platforms.

use std::collections::{BTreeMap, BTreeSet};

use crate::metadata::Metadata;

/// A condition in disjunctive normal form: any of the sets, each set all of its atoms (`cfg(..)`
/// expressions or target triples). An empty set is "always".
type Dnf = BTreeSet<BTreeSet<String>>;

/// Beyond this many alternatives a package is treated as needed everywhere.
const MAX_TERMS: usize = 8;

/// A condition longer than this is not worth its unreadable table: the package is then treated as
/// needed everywhere, which only costs compiling it where it is not used.
const MAX_CONDITION_LEN: usize = 160;

fn absorb(dnf: &mut Dnf) {
    let terms: Vec<BTreeSet<String>> = dnf.iter().cloned().collect();
    dnf.retain(|term| {
        !terms
            .iter()
            .any(|other| other != term && other.is_subset(term))
    });
}

/// Package id → its condition; packages needed unconditionally are absent.
pub fn conditions(metadata: &Metadata, local: &BTreeSet<String>) -> BTreeMap<String, String> {
    let Some(resolve) = &metadata.resolve else {
        return BTreeMap::new();
    };
    let mut dnf: BTreeMap<String, Dnf> = local
        .iter()
        .map(|id| (id.clone(), Dnf::from([BTreeSet::new()])))
        .collect();
    loop {
        let mut changed = false;
        for node in &resolve.nodes {
            let Some(parent) = dnf.get(&node.id).cloned() else {
                continue;
            };
            for dep in &node.deps {
                if local.contains(&dep.pkg) {
                    continue;
                }
                let mut additions = Dnf::new();
                for kind in &dep.dep_kinds {
                    for term in &parent {
                        let mut term = term.clone();
                        if let Some(target) = &kind.target {
                            term.insert(target.clone());
                        }
                        additions.insert(term);
                    }
                }
                let entry = dnf.entry(dep.pkg.clone()).or_default();
                let before = entry.clone();
                entry.extend(additions);
                absorb(entry);
                if entry.len() > MAX_TERMS {
                    *entry = Dnf::from([BTreeSet::new()]);
                }
                if *entry != before {
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    dnf.into_iter()
        .filter(|(id, _)| !local.contains(id))
        .filter_map(|(id, dnf)| render(&dnf).map(|condition| (id, condition)))
        .filter(|(_, condition)| condition.len() <= MAX_CONDITION_LEN)
        .collect()
}

/// The table key for a condition, or `None` when it always holds (or cannot be written as one
/// `cfg(..)`, which errs toward compiling the package).
fn render(dnf: &Dnf) -> Option<String> {
    if dnf.iter().any(BTreeSet::is_empty) {
        return None;
    }
    if dnf.len() == 1 {
        let term = dnf.iter().next()?;
        if term.len() == 1 {
            return term.iter().next().cloned();
        }
    }
    let mut alternatives = Vec::new();
    for term in dnf {
        let mut atoms = Vec::new();
        for atom in term {
            // A bare target triple has no cfg spelling to combine with others.
            let inner = atom.strip_prefix("cfg(")?.strip_suffix(')')?;
            atoms.push(inner.to_string());
        }
        alternatives.push(if atoms.len() == 1 {
            atoms.remove(0)
        } else {
            format!("all({})", atoms.join(", "))
        });
    }
    Some(if alternatives.len() == 1 {
        format!("cfg({})", alternatives.remove(0))
    } else {
        format!("cfg(any({}))", alternatives.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dnf(terms: &[&[&str]]) -> Dnf {
        terms
            .iter()
            .map(|term| term.iter().map(|atom| atom.to_string()).collect())
            .collect()
    }

    #[test]
    fn renders_conditions_as_one_cfg() {
        assert_eq!(render(&dnf(&[&[]])), None);
        assert_eq!(render(&dnf(&[&["cfg(unix)"], &[]])), None);
        assert_eq!(render(&dnf(&[&["cfg(unix)"]])), Some("cfg(unix)".into()));
        assert_eq!(
            render(&dnf(&[&["x86_64-pc-windows-msvc"]])),
            Some("x86_64-pc-windows-msvc".into())
        );
        assert_eq!(
            render(&dnf(&[
                &["cfg(unix)", "cfg(target_arch = \"x86_64\")"],
                &["cfg(windows)"]
            ])),
            Some("cfg(any(all(target_arch = \"x86_64\", unix), windows))".into())
        );
        assert_eq!(
            render(&dnf(&[&["cfg(unix)", "x86_64-pc-windows-msvc"]])),
            None
        );
    }

    #[test]
    fn absorbs_narrower_alternatives() {
        let mut value = dnf(&[&["cfg(unix)"], &["cfg(unix)", "cfg(test)"]]);
        absorb(&mut value);
        assert_eq!(value, dnf(&[&["cfg(unix)"]]));
    }
}
