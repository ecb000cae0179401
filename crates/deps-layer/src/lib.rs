//! Generates, checks and verifies the dependency layer.
