use std::process::ExitStatus;

/// Output of Nix that does not have the shape this crate knows.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("not a size Nix prints (expected e.g. `0.19 MiB`): `{0}`")]
    Size(String),
    #[error("a `will be fetched` line without its `(X download, Y unpacked)` sizes: `{0}`")]
    FetchSummary(String),
    #[error("Nix announced {announced} paths after `{header}` but listed {listed}")]
    CountMismatch {
        header: String,
        announced: usize,
        listed: usize,
    },
    #[error("not the JSON `{command}` prints: {reason}")]
    Json { command: String, reason: String },
}

/// Everything that can stop a report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not run `{program}` (is Nix installed and on PATH?): {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}):\n{stderr}")]
    NixFailed {
        command: String,
        status: ExitStatus,
        stderr: String,
    },
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error(
        "{attribute} does not exist: the flake is not made by deps-layer's lib.mkFlake, or by an \
         older one; name its plan with --plan, or the installables to report on"
    )]
    NoPlan { attribute: String },
    #[error(
        "no variant `{variant}`: the plan {plan} has no such variant (variants found: {found})"
    )]
    UnknownPlannedVariant {
        variant: String,
        plan: String,
        found: String,
    },
    /// The variant plan is unreadable or not of the schema this build reads.
    #[error(transparent)]
    Plan(#[from] deps_layer::Error),
    #[error("nothing to report on: give installables, or --flake with deps-<variant> packages")]
    NothingToReport,
}
