//! Generates, checks and verifies the dependency layer: one synthetic crate that depends on exactly
//! the external units a workspace's real build compiles, per variant, and nothing of the
//! workspace's own crates, so its build can be cached and reused by the real build.

pub mod build_log;
pub mod cargo;
pub mod check;
pub mod error;
pub mod generate;
pub mod held_dir;
pub mod init;
mod init_pins;
pub mod layer_contents;
pub mod layer_crate;
pub mod layer_report;
pub mod layer_settings;
pub mod linked_artifacts;
pub mod lock;
pub mod manifest;
pub mod member_steps;
pub mod metadata;
pub mod output;
pub mod plan_file;
pub mod platform;
pub mod progress;
pub mod shell;
pub mod unit_graph;
pub mod variants;
pub mod vendor;
pub mod verify;

pub use error::{Error, Result};
