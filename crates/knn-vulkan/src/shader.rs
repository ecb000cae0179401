//! The WGSL source of the scoring shader, with the constants the host's dispatch arithmetic uses.

use knn_core::Metric;

/// Invocations per workgroup along the collection rows.
pub const WORKGROUP_SIZE: u32 = 64;

/// Rows scored by one invocation: one `vec4` of row values (see the shader's header).
pub const ROW_TILE: u32 = 4;

/// Queries scored by one invocation: the shader's eight accumulators.
pub const QUERY_TILE: u32 = 8;

const BODY: &str = include_str!("scores.wgsl");

/// The complete shader: the constants first, then the body that uses them.
pub fn source() -> String {
    format!(
        "const WORKGROUP_SIZE: u32 = {WORKGROUP_SIZE}u;\nconst ROW_TILE: u32 = {ROW_TILE}u;\n\
         const QUERY_TILE: u32 = {QUERY_TILE}u;\n\n{BODY}"
    )
}

/// The entry point that scores `metric`. Cosine is a dot product because knn-core's contract
/// hands backends unit-length vectors and queries.
pub fn entry_point(metric: Metric) -> &'static str {
    match metric {
        Metric::Cosine | Metric::Dot => "dot_scores",
        Metric::L2 => "l2_scores",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Validates the shader the way the device would, without a device: a syntax or type error
    /// shows up here instead of as a failed pipeline at run time.
    #[test]
    fn source_parses_and_validates() {
        let module = naga::front::wgsl::parse_str(&source()).expect("WGSL parses");
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::empty(),
        )
        .validate(&module)
        .expect("WGSL validates");
        for metric in Metric::ALL {
            let name = entry_point(metric);
            let entry = module
                .entry_points
                .iter()
                .find(|e| e.name == name)
                .unwrap_or_else(|| panic!("entry point {name} exists"));
            assert_eq!(entry.workgroup_size, [WORKGROUP_SIZE, 1, 1]);
        }
    }
}
