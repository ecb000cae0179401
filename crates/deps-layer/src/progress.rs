//! Progress of long cargo runs, on stderr. A full workspace build can take a quarter of an hour:
//! on a terminal one status line is redrawn (phase, units done of the total, elapsed time); in a
//! log (CI, a pipe) it would be noise, so there each step gets one line when it ends.

use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::time::{Duration, Instant};

/// Where progress goes and how much of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Style {
    /// A status line redrawn in place.
    Terminal,
    /// One line per finished step.
    Log,
    #[default]
    Silent,
}

impl Style {
    /// Terminal when stderr is one and `CI` is not set (CI runners sometimes fake a tty).
    pub fn detect() -> Style {
        if std::io::stderr().is_terminal() && std::env::var_os("CI").is_none() {
            Style::Terminal
        } else {
            Style::Log
        }
    }
}

/// How often the status line may be redrawn.
const REDRAW: Duration = Duration::from_millis(200);

/// One step (a cargo command) in progress.
pub struct Step {
    style: Style,
    label: String,
    total: Option<usize>,
    done: usize,
    compiled: usize,
    started: Instant,
    drawn: Option<Instant>,
}

impl Step {
    /// `total`: the units the command will report, when known beforehand (from its unit graph).
    pub fn start(style: Style, label: impl Into<String>, total: Option<usize>) -> Step {
        let mut step = Step {
            style,
            label: label.into(),
            total,
            done: 0,
            compiled: 0,
            started: Instant::now(),
            drawn: None,
        };
        step.draw(true);
        step
    }

    /// Counts one line of cargo's JSON output (`compiler-artifact` messages are units done).
    pub fn observe(&mut self, line: &str) {
        let Some(fresh) = crate::build_log::artifact_freshness(line) else {
            return;
        };
        self.done += 1;
        if !fresh {
            self.compiled += 1;
        }
        self.draw(false);
    }

    pub fn status(&self) -> String {
        let units = match self.total {
            Some(total) => format!("{}/{total} units", self.done),
            None => format!("{} units", self.done),
        };
        format!(
            "[{}] {units} ({} compiled), {:.0} s",
            self.label,
            self.compiled,
            self.started.elapsed().as_secs_f64()
        )
    }

    fn draw(&mut self, force: bool) {
        if self.style != Style::Terminal {
            return;
        }
        let now = Instant::now();
        if !force && self.drawn.is_some_and(|at| now - at < REDRAW) {
            return;
        }
        self.drawn = Some(now);
        let mut stderr = std::io::stderr().lock();
        let _ = write!(stderr, "\r\x1b[2K{}", self.status());
        let _ = stderr.flush();
    }

    /// Ends the step: the terminal line is replaced by the final one, a log gets its one line.
    pub fn finish(self) {
        let mut stderr = std::io::stderr().lock();
        match self.style {
            Style::Terminal => {
                let _ = writeln!(stderr, "\r\x1b[2K{}", self.status());
            }
            Style::Log => {
                let _ = writeln!(stderr, "{}", self.status());
            }
            Style::Silent => {}
        }
    }
}

/// Reads a child's stdout to its end, handing each line to `step` as it arrives; returns all of it.
pub fn follow(stdout: impl Read, step: &mut Step) -> std::io::Result<Vec<u8>> {
    let mut collected = Vec::new();
    let mut lines = BufReader::new(stdout);
    let mut line = Vec::new();
    while lines.read_until(b'\n', &mut line)? > 0 {
        step.observe(String::from_utf8_lossy(&line).trim_end());
        collected.append(&mut line);
    }
    Ok(collected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_artifacts_and_compiled_units_only() {
        let mut step = Step::start(Style::Silent, "layer build", Some(3));
        step.observe(r#"{"reason":"compiler-artifact","package_id":"a","fresh":false}"#);
        step.observe(r#"{"reason":"build-script-executed","package_id":"a"}"#);
        step.observe(r#"{"reason":"compiler-artifact","package_id":"b","fresh":true}"#);
        step.observe("warning: not json");
        let status = step.status();
        assert!(
            status.starts_with("[layer build] 2/3 units (1 compiled), "),
            "{status}"
        );
    }

    #[test]
    fn without_a_total_it_shows_the_count() {
        let mut step = Step::start(Style::Silent, "build", None);
        step.observe(r#"{"reason":"compiler-artifact","fresh":false}"#);
        assert!(step.status().starts_with("[build] 1 units (1 compiled)"));
    }
}
