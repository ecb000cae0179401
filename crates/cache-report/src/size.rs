//! Sizes as Nix prints them in its "will be fetched" summary.
//!
//! Nix up to 2.2x prints `%.2f MiB` whatever the size; later versions pick a unit
//! (`0.1 KiB`, `12.3 MiB`, `1.5 GiB`). Both read back to bytes here, rounded, so the
//! figure is only as precise as Nix printed it.

use crate::error::ParseError;

const BINARY_UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/// Reads `"<number> <unit>"` (e.g. `0.19 MiB`) into bytes.
pub fn parse_size(text: &str) -> Result<u64, ParseError> {
    let invalid = || ParseError::Size(text.to_string());
    let mut words = text.split_whitespace();
    let (Some(number), Some(unit), None) = (words.next(), words.next(), words.next()) else {
        return Err(invalid());
    };
    let value: f64 = number.parse().map_err(|_| invalid())?;
    if !value.is_finite() || value < 0.0 {
        return Err(invalid());
    }
    let power = BINARY_UNITS
        .iter()
        .position(|candidate| *candidate == unit)
        .ok_or_else(invalid)?;
    let exponent = i32::try_from(power).map_err(|_| invalid())?;
    Ok((value * 1024f64.powi(exponent)).round() as u64)
}

/// Renders bytes the way a reader compares them: one decimal, binary units.
pub fn render_size(bytes: u64) -> String {
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < BINARY_UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", BINARY_UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_binary_unit() {
        assert_eq!(parse_size("512 B").unwrap(), 512);
        assert_eq!(parse_size("0.5 KiB").unwrap(), 512);
        assert_eq!(parse_size("2.00 MiB").unwrap(), 2 * 1024 * 1024);
        assert_eq!(parse_size("1.5 GiB").unwrap(), 3 * 512 * 1024 * 1024);
    }

    #[test]
    fn rounds_to_the_nearest_byte() {
        // 0.19 MiB = 199229.44 bytes
        assert_eq!(parse_size("0.19 MiB").unwrap(), 199_229);
    }

    #[test]
    fn refuses_what_is_not_a_size() {
        for text in [
            "",
            "MiB",
            "1.0",
            "1.0 MB",
            "-1 KiB",
            "x KiB",
            "1 KiB extra",
            "NaN KiB",
        ] {
            let error = parse_size(text).unwrap_err();
            assert!(error.to_string().contains("size"), "{text}: {error}");
        }
    }

    #[test]
    fn renders_in_the_largest_unit_below_1024() {
        assert_eq!(render_size(0), "0 B");
        assert_eq!(render_size(1023), "1023 B");
        assert_eq!(render_size(1024), "1.0 KiB");
        assert_eq!(render_size(5 * 1024 * 1024 + 512 * 1024), "5.5 MiB");
    }

    #[test]
    fn render_and_parse_agree_within_the_printed_precision() {
        for bytes in [1_500u64, 250_000, 7_340_032, 3_221_225_472] {
            let back = parse_size(&render_size(bytes)).unwrap();
            let error = back.abs_diff(bytes) as f64 / bytes as f64;
            assert!(error < 0.05, "{bytes} -> {} -> {back}", render_size(bytes));
        }
    }
}
