//! Exact k-nearest-neighbour vector search over HTTP, stored in SQLite.
//!
//! The binary (`src/main.rs`) parses the command line; everything it runs lives here so the
//! tests can drive the real router.

pub mod api;
pub mod api_error;
pub mod api_keys;
pub mod backends;
pub mod bench;
pub mod body_reader;
pub mod collections;
pub mod content_encoding;
pub mod json_body;
pub mod parse_budget;
pub mod request_limits;
pub mod requests;
pub mod serve;
pub mod storage;
