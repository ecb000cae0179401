//! The markdown document a benchmark run prints and writes: what ran, where, and the tables.

use std::fmt::Write as _;

use crate::bench::Report;
use crate::machine::Machine;
use crate::table;

pub fn render(report: &Report, command: &str, machine: &Machine) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### Workspace `{}`\n", report.workspace.display());
    let _ = writeln!(out, "Command: `{command}`\n");
    let _ = writeln!(
        out,
        "Machine: {} CPUs ({}), {}, {}; load average at start: {}.\n",
        machine.cpus, machine.cpu_model, machine.memory, machine.rustc, machine.load_at_start
    );
    let _ = writeln!(
        out,
        "Times are medians of {} run(s), each strategy in its own fresh target dir, release profile. \
         Layer: crane's `check --all-targets`, `build`, `test --no-run` (cargo-chef: `cook`, then `cook --all-targets`). \
         Final: `build --release --locked --workspace` + `test --release --locked --workspace --no-run`.\n",
        report.runs
    );
    for variant in &report.variants {
        let features = if variant.features.is_empty() {
            "none".to_string()
        } else {
            variant.features.join(", ")
        };
        let _ = writeln!(
            out,
            "#### Variant `{}` (features: {features})\n",
            variant.variant
        );
        out.push_str(&table::render_build_table(&variant.rows, variant.cold));
        out.push('\n');
        let missed: Vec<String> = variant
            .recompiled
            .iter()
            .filter(|(name, packages)| name.as_str() != "none" && !packages.is_empty())
            .map(|(name, packages)| {
                let shown: Vec<&str> = packages.iter().take(12).map(String::as_str).collect();
                let more = packages.len().saturating_sub(shown.len());
                let tail = if more > 0 {
                    format!(", … {more} more")
                } else {
                    String::new()
                };
                format!(
                    "- {name}: {} packages: {}{tail}",
                    packages.len(),
                    shown.join(", ")
                )
            })
            .collect();
        if !missed.is_empty() {
            out.push_str("External packages the final build recompiled (first run):\n\n");
            out.push_str(&missed.join("\n"));
            out.push_str("\n\n");
        }
    }
    if let Some(keys) = &report.keys {
        out.push_str("#### Layer key after everyday changes\n\n");
        for (label, what) in &keys.changes {
            let _ = writeln!(out, "- {label}: {what}");
        }
        out.push('\n');
        let labels: Vec<&str> = keys.changes.iter().map(|(l, _)| l.as_str()).collect();
        out.push_str(&table::render_key_table(&labels, &keys.rows));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;
    use crate::bench::{KeyResult, VariantResult};
    use crate::table::{BuildRow, KeyRow};

    #[test]
    fn report_has_command_machine_tables_and_missed_packages() {
        let report = Report {
            workspace: PathBuf::from("/w"),
            runs: 3,
            variants: vec![VariantResult {
                variant: "cpu".into(),
                features: vec![],
                rows: vec![BuildRow {
                    strategy: "dummy-crate".into(),
                    layer: Some(Duration::from_secs(10)),
                    final_build: Duration::from_secs(5),
                    external_units_recompiled: 2,
                    external_units_reused: 7,
                    note: String::new(),
                }],
                cold: Some(Duration::from_secs(10)),
                recompiled: BTreeMap::from([(
                    "dummy-crate".to_string(),
                    vec!["syn@2.0.1".to_string()],
                )]),
            }],
            keys: Some(KeyResult {
                changes: vec![("(a) edit".into(), "appended to a.rs".into())],
                rows: vec![KeyRow {
                    strategy: "dummy-crate".into(),
                    changed: vec![Some(false)],
                }],
            }),
        };
        let machine = Machine {
            cpus: 2,
            cpu_model: "Xeon".into(),
            memory: "24.0 GiB".into(),
            rustc: "rustc 1.95.0".into(),
            load_at_start: "0.1 0.2 0.3".into(),
        };
        let text = render(&report, "layer-bench --runs 3", &machine);
        assert!(text.contains("Command: `layer-bench --runs 3`"));
        assert!(text.contains("2 CPUs (Xeon), 24.0 GiB, rustc 1.95.0"));
        assert!(text.contains("medians of 3 run(s)"));
        assert!(text.contains("#### Variant `cpu` (features: none)"));
        assert!(text.contains("| dummy-crate | 10.0 | 5.0 | 15.0 | 2 | 7 | 0.50 |  |"));
        assert!(text.contains("- dummy-crate: 1 packages: syn@2.0.1"));
        assert!(text.contains("- (a) edit: appended to a.rs"));
        assert!(text.contains("| dummy-crate | same (layer reused) |"));
    }
}
