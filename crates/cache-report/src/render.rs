//! The report as a markdown table (readable as plain text too) with the details below it.

use std::fmt::Write;

use crate::report::{GroupReport, OutputStatus, Report};
use crate::size::render_size;

/// The summary table, then per group the paths to build and fetch (at most `max_listed` of
/// each; `--json` has them all).
pub fn render_markdown(report: &Report, max_listed: usize) -> String {
    let mut out = String::new();
    let system = report.system.as_deref().unwrap_or("this machine");
    let _ = writeln!(out, "# Cache report ({system})");
    if let Some(cache) = &report.cache {
        let _ = writeln!(out, "\nSizes from `{cache}`.");
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| group | dependency layers | not in the cache | to build | to fetch | download | unpacked | last build on its layer |"
    );
    let _ = writeln!(out, "|---|---|---|---:|---:|---:|---:|---|");
    for group in &report.groups {
        let layers = or_dash(
            group
                .layers()
                .map(|layer| format!("{} {}", layer.name, status_word(layer.status))),
        );
        let missing = or_dash(group.missing().map(|output| output.name.clone()));
        let last_build = group.layer_report.as_ref().map_or_else(
            || "-".to_string(),
            |last| {
                format!(
                    "{} of {} external units compiled",
                    last.report.misses.len(),
                    last.report.external_units
                )
            },
        );
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            group.name,
            layers,
            missing,
            group.built.len(),
            group.fetched.len(),
            optional_size(group.download_total()),
            optional_size(group.unpacked_total()),
            last_build,
        );
    }
    for group in &report.groups {
        render_details(&mut out, group, max_listed);
    }
    out
}

fn render_details(out: &mut String, group: &GroupReport, max_listed: usize) {
    let _ = writeln!(out, "\n## {}", group.name);
    if let Some(last) = &group.layer_report {
        let _ = writeln!(
            out,
            "\nThe package's build ({}): {}.",
            last.from,
            last.report.summary()
        );
        let misses = last
            .report
            .misses
            .iter()
            .map(|miss| format!("`{}` ({})", miss.package, miss.kind.join(",")))
            .collect();
        write_list(
            out,
            "Compiled again although on the layer",
            misses,
            max_listed,
        );
    }
    if group.built.is_empty() && group.fetched.is_empty() && group.unknown.is_empty() {
        let _ = writeln!(out, "\nEverything is in the local store already.");
        return;
    }
    let built = group.built.iter().map(|drv| format!("`{drv}`")).collect();
    write_list(out, "Built", built, max_listed);
    // Largest first, so that a shortened list still shows where the download goes.
    let mut fetched: Vec<_> = group.fetched.iter().collect();
    fetched.sort_by_key(|path| std::cmp::Reverse(path.download_bytes));
    let fetched = fetched
        .into_iter()
        .map(|path| {
            let warning = if path.trusted == Some(false) {
                " (not signed by a trusted key: Nix will build it instead)"
            } else {
                ""
            };
            match (path.download_bytes, path.nar_bytes) {
                (None, None) => format!("`{}`{warning}", path.path),
                (download, nar) => format!(
                    "`{}`: {} download, {} unpacked{warning}",
                    path.path,
                    optional_size(download),
                    optional_size(nar)
                ),
            }
        })
        .collect();
    write_list(out, "Fetched", fetched, max_listed);
    let unknown = group
        .unknown
        .iter()
        .map(|path| format!("`{path}`"))
        .collect();
    write_list(out, "No way to get", unknown, max_listed);
}

/// A titled list of at most `max_listed` items; long ones (a cold build lists every
/// derivation of the toolchain) would not fit a CI job summary.
fn write_list(out: &mut String, title: &str, items: Vec<String>, max_listed: usize) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{title} ({}):\n", items.len());
    for item in items.iter().take(max_listed) {
        let _ = writeln!(out, "- {item}");
    }
    if items.len() > max_listed {
        let _ = writeln!(out, "- … and {} more", items.len() - max_listed);
    }
}

fn or_dash(items: impl Iterator<Item = String>) -> String {
    let joined = items.collect::<Vec<_>>().join(", ");
    if joined.is_empty() {
        "-".to_string()
    } else {
        joined
    }
}

fn status_word(status: OutputStatus) -> &'static str {
    match status {
        OutputStatus::Present => "hit (local)",
        OutputStatus::Fetched => "hit (fetched)",
        OutputStatus::Built => "miss (built)",
        OutputStatus::Untrusted => "miss (untrusted signature: built)",
        OutputStatus::Unknown => "miss (no way to get it)",
    }
}

fn optional_size(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "-".to_string(), render_size)
}
