//! Sizes that bound the backend's device memory use.

/// Limits on the buffers the backend allocates. The device's own limits apply on top.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VulkanOptions {
    /// The largest collection chunk, one device buffer each. Smaller chunks mean more dispatches;
    /// tests set it low to force many chunks.
    pub max_chunk_bytes: u64,
    /// The largest score buffer of one dispatch; it is copied back to the host for top-k.
    pub max_scores_bytes: u64,
    /// Device memory a collection may keep resident. A collection larger than this is kept on the
    /// host and streamed through the device one chunk at a time on every search.
    pub memory_budget_bytes: u64,
}

impl Default for VulkanOptions {
    fn default() -> Self {
        Self {
            max_chunk_bytes: 256 << 20,
            max_scores_bytes: 64 << 20,
            memory_budget_bytes: 2 << 30,
        }
    }
}

impl VulkanOptions {
    /// The defaults, with the memory budget taken from `KNN_VULKAN_MEMORY_BUDGET_MIB` when set:
    /// wgpu cannot query free device memory, so the operator states it.
    pub fn from_env() -> Result<Self, String> {
        let mut options = Self::default();
        if let Ok(text) = std::env::var(MEMORY_BUDGET_ENV) {
            options.memory_budget_bytes = parse_mib(&text).ok_or_else(|| {
                format!("{MEMORY_BUDGET_ENV}={text:?} is not a positive number of MiB")
            })?;
        }
        Ok(options)
    }
}

/// The environment variable read by [`VulkanOptions::from_env`].
pub const MEMORY_BUDGET_ENV: &str = "KNN_VULKAN_MEMORY_BUDGET_MIB";

fn parse_mib(text: &str) -> Option<u64> {
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|&mib| mib > 0)
        .and_then(|mib| mib.checked_mul(1 << 20))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mib_parse_rejects_zero_junk_and_overflow() {
        assert_eq!(parse_mib(" 512 "), Some(512 << 20));
        assert_eq!(parse_mib("0"), None);
        assert_eq!(parse_mib("-1"), None);
        assert_eq!(parse_mib("1.5"), None);
        assert_eq!(parse_mib(&u64::MAX.to_string()), None);
    }
}
