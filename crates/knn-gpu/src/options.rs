//! Sizes that bound a GPU backend's device memory use (knn-cuda's `CudaOptions`, knn-rocm's
//! `RocmOptions`).

use crate::plan::Sizes;

/// Limits on the buffers the backend allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpuOptions {
    /// Device memory a collection and its searches may use; `None` takes
    /// [`GpuOptions::FREE_MEMORY_SHARE`] of the memory the driver reports free at upload.
    pub memory_budget_bytes: Option<u64>,
    /// The largest single collection chunk; tests set it low to force many chunks.
    pub max_chunk_bytes: u64,
    /// The largest score buffer of one launch; the top-k candidates are selected from it on the
    /// device.
    pub max_scores_bytes: u64,
    /// The most queries on the device at once.
    pub max_query_batch: usize,
    /// Candidate slots per query in one tile. A query with more candidates (many exact ties,
    /// or k near the tile's row count) has its whole score row read back instead: slower, as
    /// exact.
    pub max_candidates_per_query: usize,
}

impl GpuOptions {
    /// Leaves room for the driver's context, the kernels and other processes' allocations.
    pub const FREE_MEMORY_SHARE: f64 = 0.9;

    /// Device memory a search of vectors of `dim` values needs besides the collection: what a
    /// budget must hold before any row fits.
    pub fn search_working_bytes(&self, dim: usize) -> u64 {
        self.sizes(0).working_bytes(dim)
    }

    /// These limits with a budget of `budget_bytes`.
    pub fn sizes(&self, budget_bytes: u64) -> Sizes {
        Sizes {
            budget_bytes,
            max_chunk_bytes: self.max_chunk_bytes,
            max_scores_bytes: self.max_scores_bytes,
            max_query_batch: self.max_query_batch,
            max_candidates_per_query: self.max_candidates_per_query,
        }
    }
}

impl Default for GpuOptions {
    fn default() -> Self {
        Self {
            memory_budget_bytes: None,
            max_chunk_bytes: 1 << 30,
            max_scores_bytes: 256 << 20,
            max_query_batch: 1024,
            max_candidates_per_query: 4096,
        }
    }
}
