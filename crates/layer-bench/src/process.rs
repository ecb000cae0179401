//! Running the measured commands: wall time, stdout kept for cargo's JSON messages, stderr
//! appended to a log file so a failure can show its last lines.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use deps_layer::progress::{self, Style};

use crate::error::BenchError;

#[derive(Debug, Clone)]
pub struct Step {
    pub program: String,
    pub args: Vec<String>,
    pub dir: PathBuf,
    pub env: Vec<(String, String)>,
}

impl Step {
    pub fn new(program: &str, args: &[&str], dir: &Path) -> Self {
        Step {
            program: program.to_string(),
            args: args.iter().map(|a| a.to_string()).collect(),
            dir: dir.to_path_buf(),
            env: Vec::new(),
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I: IntoIterator<Item = String>>(mut self, args: I) -> Self {
        self.args.extend(args);
        self
    }

    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.push((key.to_string(), value.into()));
        self
    }

    /// The program and its subcommand, e.g. `cargo build`, for a status line.
    pub fn label(&self) -> String {
        let program = Path::new(&self.program).file_name().map_or_else(
            || self.program.clone(),
            |name| name.to_string_lossy().into_owned(),
        );
        match self.args.first() {
            Some(sub) => format!("{program} {sub}"),
            None => program,
        }
    }

    pub fn display(&self) -> String {
        let mut text = String::new();
        for (k, v) in &self.env {
            text.push_str(&format!("{k}={v} "));
        }
        text.push_str(&self.program);
        for arg in &self.args {
            text.push(' ');
            text.push_str(arg);
        }
        text
    }
}

pub struct Outcome {
    pub elapsed: Duration,
    pub stdout: String,
}

fn log_tail(log: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs `step`, appending its stderr (and a line naming the command) to `log`.
pub fn run(step: &Step, log: &Path) -> Result<Outcome, BenchError> {
    let io = |source| BenchError::Io {
        path: log.to_path_buf(),
        source,
    };
    let mut log_file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(io)?;
    writeln!(
        log_file,
        "$ (cd {} && {})",
        step.dir.display(),
        step.display()
    )
    .map_err(io)?;
    let stderr = log_file.try_clone().map_err(io)?;

    let mut command = Command::new(&step.program);
    command
        .args(&step.args)
        .current_dir(&step.dir)
        .stdin(Stdio::null());
    command.stdout(Stdio::piped()).stderr(Stdio::from(stderr));
    for (k, v) in &step.env {
        command.env(k, v);
    }
    let spawn_error = |source| BenchError::Spawn {
        command: step.display(),
        source,
    };
    let started = Instant::now();
    let mut child = command.spawn().map_err(spawn_error)?;
    // The bench's own lines already mark each phase in a log; the live unit count is for terminals.
    let style = match Style::detect() {
        Style::Terminal => Style::Terminal,
        _ => Style::Silent,
    };
    let mut progress = progress::Step::start(style, step.label(), None);
    let stdout = match child.stdout.take() {
        Some(stdout) => progress::follow(stdout, &mut progress).map_err(spawn_error)?,
        None => Vec::new(),
    };
    progress.finish();
    let status = child.wait().map_err(spawn_error)?;
    let elapsed = started.elapsed();
    if !status.success() {
        return Err(BenchError::CommandFailed {
            command: step.display(),
            dir: step.dir.clone(),
            status: status.to_string(),
            tail: log_tail(log, 30),
        });
    }
    Ok(Outcome {
        elapsed,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
    })
}
