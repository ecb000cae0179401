//! Cache report: for each variant of a flake (or any installables), which derivations Nix
//! would build and which paths it would fetch, with sizes, and whether the dependency
//! layers (`deps-common`, `deps-<variant>`) are cache hits. It reads what
//! `nix build --dry-run` and `nix path-info --json --store <cache>` print.

pub mod derived;
pub mod dry_run;
pub mod error;
pub mod nix;
pub mod path_info;
pub mod plan;
pub mod render;
pub mod report;
pub mod size;

pub use dry_run::{DryRunPlan, parse_dry_run};
pub use error::{Error, ParseError};
pub use nix::Nix;
pub use plan::{Group, Member, installables_group, plan_groups};
pub use render::render_markdown;
pub use report::{GroupReport, Output, OutputStatus, Report, report_group};
