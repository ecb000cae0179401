//! Markdown tables of the results: one build table per variant, one key table per workspace.

use std::fmt::Write as _;
use std::time::Duration;

/// The medians measured for one strategy and variant.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildRow {
    pub strategy: String,
    /// `None` for the cold build, which has no layer.
    pub layer: Option<Duration>,
    pub final_build: Duration,
    pub external_units_recompiled: usize,
    /// External units the final build found fresh (reused from the layer).
    pub external_units_reused: usize,
    pub note: String,
}

/// Whether a strategy's layer key changed after one everyday change; `None` when the strategy
/// has no layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    pub strategy: String,
    pub changed: Vec<Option<bool>>,
}

fn seconds(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64())
}

/// `cold` is the median final build time of the `none` strategy; without it the ratio column
/// says so rather than inventing a baseline.
pub fn render_build_table(rows: &[BuildRow], cold: Option<Duration>) -> String {
    let mut out = String::new();
    out.push_str(
        "| strategy | layer build (s) | final build (s) | layer + final (s) | external units recompiled in final build | external units fresh in final build | final / cold | note |\n",
    );
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---|\n");
    for row in rows {
        let layer = row.layer.map(seconds).unwrap_or_else(|| "–".into());
        let total = seconds(row.layer.unwrap_or_default() + row.final_build);
        let ratio = match cold {
            Some(cold) if !cold.is_zero() => {
                format!("{:.2}", row.final_build.as_secs_f64() / cold.as_secs_f64())
            }
            _ => "n/a".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            row.strategy,
            layer,
            seconds(row.final_build),
            total,
            row.external_units_recompiled,
            row.external_units_reused,
            ratio,
            row.note
        );
    }
    out
}

pub fn render_key_table(change_labels: &[&str], rows: &[KeyRow]) -> String {
    let mut out = String::from("| strategy |");
    for label in change_labels {
        let _ = write!(out, " {label} |");
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(change_labels.len()));
    out.push('\n');
    for row in rows {
        let _ = write!(out, "| {} |", row.strategy);
        for cell in &row.changed {
            let text = match cell {
                Some(true) => "**changes** (layer rebuilt)",
                Some(false) => "same (layer reused)",
                None => "– (no layer)",
            };
            let _ = write!(out, " {text} |");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(strategy: &str, layer: Option<u64>, final_secs: u64, recompiled: usize) -> BuildRow {
        BuildRow {
            strategy: strategy.into(),
            layer: layer.map(Duration::from_secs),
            final_build: Duration::from_secs(final_secs),
            external_units_recompiled: recompiled,
            external_units_reused: 0,
            note: String::new(),
        }
    }

    #[test]
    fn build_table_has_ratio_to_cold_and_layer_plus_final() {
        let rows = [
            row("none", None, 100, 300),
            row("deps-layer", Some(90), 25, 0),
        ];
        let table = render_build_table(&rows, Some(Duration::from_secs(100)));
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[2], "| none | – | 100.0 | 100.0 | 300 | 0 | 1.00 |  |");
        assert_eq!(
            lines[3],
            "| deps-layer | 90.0 | 25.0 | 115.0 | 0 | 0 | 0.25 |  |"
        );
    }

    #[test]
    fn build_table_without_cold_baseline_says_so() {
        let table = render_build_table(&[row("deps-layer", Some(1), 2, 0)], None);
        assert!(table.lines().nth(2).unwrap().contains("| n/a |"));
    }

    #[test]
    fn key_table_has_one_column_per_change() {
        let rows = [
            KeyRow {
                strategy: "none".into(),
                changed: vec![None, None],
            },
            KeyRow {
                strategy: "deps-layer".into(),
                changed: vec![Some(false), Some(true)],
            },
        ];
        let table = render_key_table(&["(a) edit", "(d) lock"], &rows);
        assert_eq!(
            table,
            "| strategy | (a) edit | (d) lock |\n|---|---|---|\n\
             | none | – (no layer) | – (no layer) |\n\
             | deps-layer | same (layer reused) | **changes** (layer rebuilt) |\n"
        );
    }
}
