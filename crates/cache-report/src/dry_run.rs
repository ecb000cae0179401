//! What `nix build --dry-run` prints on stderr: the derivations it would build, the paths
//! it would fetch (with the download and unpacked totals) and the paths nobody can provide.
//!
//! Formats read (Nix `printMissing`):
//! - `these derivations will be built:` (2.3), `these N derivations will be built:`,
//!   `this derivation will be built:` (2.4 and later);
//! - `these [N ]paths will be fetched (A download, B unpacked):`, `this path will be fetched (…):`,
//!   sizes as `%.2f MiB` (up to 2.2x) or with a chosen unit (`0.1 KiB`, `1.5 GiB`; later);
//! - `don't know how to build these paths[ (may be caused by read-only store access)]:`.
//!
//! Each header is followed by one `  /store/path` line per path. Anything else (warnings,
//! evaluation messages) ends a list and is otherwise ignored.

use crate::error::ParseError;
use crate::size::parse_size;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DryRunPlan {
    /// `.drv` paths Nix would build.
    pub will_build: Vec<String>,
    /// Output paths Nix would substitute from a binary cache.
    pub will_fetch: Vec<String>,
    /// Paths neither present, buildable nor substitutable.
    pub unknown: Vec<String>,
    /// Download total as Nix printed it, if anything is fetched.
    pub download_bytes: Option<u64>,
    /// Unpacked (NAR) total as Nix printed it, if anything is fetched.
    pub unpacked_bytes: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Build,
    Fetch,
    Unknown,
}

struct Header {
    section: Section,
    announced: Option<usize>,
    text: String,
}

pub fn parse_dry_run(stderr: &str) -> Result<DryRunPlan, ParseError> {
    let mut plan = DryRunPlan::default();
    let mut open: Option<Header> = None;
    for raw_line in stderr.lines() {
        let line = strip_ansi(raw_line);
        if let Some(path) = list_entry(&line)
            && let Some(header) = &open
        {
            section_list(&mut plan, header.section).push(path.to_string());
            continue;
        }
        if let Some(header) = open.take() {
            check_count(&plan, &header)?;
        }
        open = read_header(&line, &mut plan)?;
    }
    if let Some(header) = open {
        check_count(&plan, &header)?;
    }
    Ok(plan)
}

fn list_entry(line: &str) -> Option<&str> {
    let path = line.strip_prefix("  ")?.trim_end();
    (path.starts_with('/') && !path.contains(' ')).then_some(path)
}

fn section_list(plan: &mut DryRunPlan, section: Section) -> &mut Vec<String> {
    match section {
        Section::Build => &mut plan.will_build,
        Section::Fetch => &mut plan.will_fetch,
        Section::Unknown => &mut plan.unknown,
    }
}

fn check_count(plan: &DryRunPlan, header: &Header) -> Result<(), ParseError> {
    let listed = match header.section {
        Section::Build => plan.will_build.len(),
        Section::Fetch => plan.will_fetch.len(),
        Section::Unknown => plan.unknown.len(),
    };
    match header.announced {
        Some(announced) if announced != listed => Err(ParseError::CountMismatch {
            header: header.text.clone(),
            announced,
            listed,
        }),
        _ => Ok(()),
    }
}

fn read_header(line: &str, plan: &mut DryRunPlan) -> Result<Option<Header>, ParseError> {
    let text = line.trim();
    let header = |section, announced| {
        Some(Header {
            section,
            announced,
            text: text.to_string(),
        })
    };
    if text == "this derivation will be built:" {
        return Ok(header(Section::Build, Some(1)));
    }
    if let Some(count) = text
        .strip_prefix("these ")
        .and_then(|rest| rest.strip_suffix("derivations will be built:"))
    {
        return Ok(header(Section::Build, parse_count(count)));
    }
    if text.starts_with("don't know how to build these paths") && text.ends_with(':') {
        return Ok(header(Section::Unknown, None));
    }
    let fetch = if let Some(rest) = text.strip_prefix("this path will be fetched") {
        Some((Some(1), rest))
    } else {
        text.strip_prefix("these ").and_then(|rest| {
            let (count, rest) = rest.split_once("paths will be fetched")?;
            Some((parse_count(count), rest))
        })
    };
    let Some((announced, sizes)) = fetch else {
        return Ok(None);
    };
    let (download, unpacked) =
        parse_fetch_sizes(sizes).ok_or_else(|| ParseError::FetchSummary(text.to_string()))?;
    plan.download_bytes = Some(parse_size(download)?);
    plan.unpacked_bytes = Some(parse_size(unpacked)?);
    Ok(header(Section::Fetch, announced))
}

/// `"3 "` is a count; `""` (Nix 2.3 printed none) is not.
fn parse_count(text: &str) -> Option<usize> {
    text.trim().parse().ok()
}

/// ` (0.19 MiB download, 0.38 MiB unpacked):` -> (`0.19 MiB`, `0.38 MiB`)
fn parse_fetch_sizes(text: &str) -> Option<(&str, &str)> {
    let inner = text.trim().strip_prefix('(')?.strip_suffix("):")?;
    let (download, unpacked) = inner.split_once(", ")?;
    Some((
        download.strip_suffix(" download")?,
        unpacked.strip_suffix(" unpacked")?,
    ))
}

/// Nix colours some messages when it thinks it writes to a terminal.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI sequence: ESC [ parameters final-byte(@..~)
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
