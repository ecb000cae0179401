//! The GPU's architecture name (`gfx90a`, `gfx1100`, ...) that hiprtc must compile for.
//!
//! `hipDeviceProp_t` changed layout between ROCm releases, so instead of mirroring one layout
//! the backend lets the runtime fill an oversized zeroed buffer and finds the `gcnArchName`
//! string in it: the only NUL-terminated string that starts with `gfx` followed by a digit.

/// Larger than `hipDeviceProp_t` in every ROCm release (about 1.5 KiB in ROCm 6).
pub const PROPERTIES_BUFFER_BYTES: usize = 16 * 1024;

/// The architecture name without feature suffixes (`gfx90a:sramecc+:xnack-` gives `gfx90a`),
/// or `None` if the buffer holds none.
pub fn gfx_name(properties: &[u8]) -> Option<String> {
    let mut start = 0;
    while let Some(found) = find(&properties[start..], b"gfx") {
        let at = start + found;
        let preceded_by_text = at > 0 && properties[at - 1] != 0;
        let end = properties[at..]
            .iter()
            .position(|&b| b == 0)
            .map_or(properties.len(), |n| at + n);
        let name = &properties[at..end];
        let well_formed = name.len() > 3
            && name[3].is_ascii_digit()
            && name
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'+' | b'-'));
        if !preceded_by_text && well_formed {
            let name = String::from_utf8_lossy(name);
            return name.split(':').next().map(str::to_owned);
        }
        start = at + 3;
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buffer_with(strings: &[(usize, &str)]) -> Vec<u8> {
        let mut buffer = vec![0u8; 2048];
        for &(offset, s) in strings {
            buffer[offset..offset + s.len()].copy_from_slice(s.as_bytes());
        }
        buffer
    }

    #[test]
    fn finds_the_arch_name_wherever_the_layout_puts_it() {
        // The device name first (offset 0, as in every layout), the arch name later.
        let old = buffer_with(&[(0, "AMD Instinct MI210"), (396, "gfx90a:sramecc+:xnack-")]);
        assert_eq!(gfx_name(&old).as_deref(), Some("gfx90a"));
        let new = buffer_with(&[(0, "Radeon RX 7900 XTX"), (1160, "gfx1100")]);
        assert_eq!(gfx_name(&new).as_deref(), Some("gfx1100"));
    }

    #[test]
    fn ignores_gfx_inside_other_text_and_non_names() {
        let buffer = buffer_with(&[(0, "Board gfx9 edition"), (300, "gfxX"), (600, "gfx942")]);
        assert_eq!(gfx_name(&buffer).as_deref(), Some("gfx942"));
        assert_eq!(gfx_name(&buffer_with(&[(0, "no arch here")])), None);
        assert_eq!(gfx_name(&[]), None);
    }
}
