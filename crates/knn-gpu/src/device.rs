//! The device operations a search runs. Each backend implements them over its own driver
//! bindings (cudarc for CUDA, our HIP FFI for ROCm); the search itself is [`crate::collection`].

use knn_core::{BackendError, Metric};

/// One launch of the scoring kernel: `rows` rows of a chunk from `row_offset` against the first
/// `queries` queries, into the query-major score buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreLaunch {
    pub metric: Metric,
    pub dim: usize,
    pub row_offset: usize,
    pub rows: usize,
    pub queries: usize,
}

/// One launch of `segment_best` over a scored tile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegmentLaunch {
    pub rows: usize,
    pub segment_rows: usize,
    pub segments: usize,
    pub queries: usize,
    /// [`crate::kernel::key_sign`] of the metric.
    pub sign: f32,
}

/// One launch of `compact_candidates` over a scored tile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompactLaunch {
    pub rows: usize,
    pub queries: usize,
    /// Candidate slots per query.
    pub capacity: usize,
    /// [`crate::kernel::key_sign`] of the metric.
    pub sign: f32,
}

/// A GPU as a search uses it. Operations run in order on one queue; a download returns once the
/// launches before it have finished.
pub trait SearchDevice: Send + Sync {
    /// Device memory holding `f32` values.
    type Floats: Send + Sync;
    /// Device memory holding `u32` values.
    type Indices: Send + Sync;

    /// Room for `len` values; running out is [`BackendError::OutOfMemory`] with the sizes.
    fn alloc_floats(&self, len: usize) -> Result<Self::Floats, BackendError>;
    fn alloc_indices(&self, len: usize) -> Result<Self::Indices, BackendError>;
    /// Copies `values` to the start of `to`.
    fn upload(&self, to: &mut Self::Floats, values: &[f32]) -> Result<(), BackendError>;
    /// Sets the first `len` values of `to` to zero.
    fn clear(&self, to: &mut Self::Indices, len: usize) -> Result<(), BackendError>;
    /// Copies `out.len()` values from value `first` of `from`.
    fn download_floats(
        &self,
        from: &Self::Floats,
        first: usize,
        out: &mut [f32],
    ) -> Result<(), BackendError>;
    /// Copies the first `out.len()` values of `from`.
    fn download_indices(&self, from: &Self::Indices, out: &mut [u32]) -> Result<(), BackendError>;

    fn score(
        &self,
        launch: &ScoreLaunch,
        vectors: &Self::Floats,
        queries: &Self::Floats,
        scores: &mut Self::Floats,
    ) -> Result<(), BackendError>;
    fn segment_best(
        &self,
        launch: &SegmentLaunch,
        scores: &Self::Floats,
        best: &mut Self::Floats,
    ) -> Result<(), BackendError>;
    fn compact_candidates(
        &self,
        launch: &CompactLaunch,
        scores: &Self::Floats,
        thresholds: &Self::Floats,
        counts: &mut Self::Indices,
        candidate_rows: &mut Self::Indices,
        candidate_scores: &mut Self::Floats,
    ) -> Result<(), BackendError>;
}
