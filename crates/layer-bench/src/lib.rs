//! `layer-bench`: measures how much compile work a dependency layer saves and how often its cache
//! key survives everyday changes, for several layer strategies side by side.

pub mod bench;
pub mod changes;
pub mod error;
pub mod fsutil;
pub mod keys;
pub mod machine;
pub mod process;
pub mod report;
pub mod stats;
pub mod strategy;
pub mod table;
pub mod workspace;
