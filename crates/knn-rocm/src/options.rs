//! Sizes that bound the backend's device memory use.

/// Limits on the buffers the backend allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RocmOptions {
    /// Device memory a collection and its searches may use; `None` takes
    /// [`RocmOptions::FREE_MEMORY_SHARE`] of the memory HIP reports free at upload.
    pub memory_budget_bytes: Option<u64>,
    /// The largest single collection chunk.
    pub max_chunk_bytes: u64,
    /// The largest score buffer of one launch; it is copied back to the host for top-k.
    pub max_scores_bytes: u64,
    /// The most queries on the device at once.
    pub max_query_batch: usize,
}

impl RocmOptions {
    /// Leaves room for the runtime, the code object and other processes' allocations.
    pub const FREE_MEMORY_SHARE: f64 = 0.9;
}

impl Default for RocmOptions {
    fn default() -> Self {
        Self {
            memory_budget_bytes: None,
            max_chunk_bytes: 1 << 30,
            max_scores_bytes: 256 << 20,
            max_query_batch: 1024,
        }
    }
}
