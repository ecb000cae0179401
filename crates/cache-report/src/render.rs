//! The report as a markdown table (readable as plain text too) with the details below it.

use std::fmt::Write;

use crate::report::{GroupReport, OutputStatus, Report};
use crate::size::render_size;

pub fn render_markdown(report: &Report) -> String {
    let mut out = String::new();
    let system = report.system.as_deref().unwrap_or("this machine");
    let _ = writeln!(out, "# Cache report ({system})");
    if let Some(cache) = &report.cache {
        let _ = writeln!(out, "\nSizes from `{cache}`.");
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| group | dependency layers | not in the cache | to build | to fetch | download | unpacked |"
    );
    let _ = writeln!(out, "|---|---|---|---:|---:|---:|---:|");
    for group in &report.groups {
        let layers = or_dash(
            group
                .layers()
                .map(|layer| format!("{} {}", layer.name, status_word(layer.status))),
        );
        let missing = or_dash(group.missing().map(|output| output.name.clone()));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            group.name,
            layers,
            missing,
            group.built.len(),
            group.fetched.len(),
            optional_size(group.download_total()),
            optional_size(group.unpacked_total()),
        );
    }
    for group in &report.groups {
        render_details(&mut out, group);
    }
    out
}

fn render_details(out: &mut String, group: &GroupReport) {
    let _ = writeln!(out, "\n## {}\n", group.name);
    if group.built.is_empty() && group.fetched.is_empty() && group.unknown.is_empty() {
        let _ = writeln!(out, "Everything is in the local store already.");
        return;
    }
    if !group.built.is_empty() {
        let _ = writeln!(out, "Built ({}):\n", group.built.len());
        for drv in &group.built {
            let _ = writeln!(out, "- `{drv}`");
        }
    }
    if !group.fetched.is_empty() {
        let _ = writeln!(out, "\nFetched ({}):\n", group.fetched.len());
        for path in &group.fetched {
            let warning = if path.trusted == Some(false) {
                " (not signed by a trusted key: Nix will build it instead)"
            } else {
                ""
            };
            let _ = match (path.download_bytes, path.nar_bytes) {
                (None, None) => writeln!(out, "- `{}`{warning}", path.path),
                (download, nar) => writeln!(
                    out,
                    "- `{}`: {} download, {} unpacked{warning}",
                    path.path,
                    optional_size(download),
                    optional_size(nar)
                ),
            };
        }
    }
    if !group.unknown.is_empty() {
        let _ = writeln!(out, "\nNo way to get ({}):\n", group.unknown.len());
        for path in &group.unknown {
            let _ = writeln!(out, "- `{path}`");
        }
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
