//! How a collection is split to fit device memory, and a search into launches. Pure arithmetic,
//! tested on the host.

use knn_core::BackendError;

use crate::kernel::{BLOCK_SIZE, MAX_GRID_Y};
use crate::selection::MIN_SEGMENT_ROWS;

const F32_BYTES: u64 = 4;
/// A candidate is a row index (u32) and its score (f32).
const CANDIDATE_BYTES: u64 = 8;

/// Sizes that bound device allocations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    /// Device memory this backend may use: the configured budget, or a share of the free memory.
    pub budget_bytes: u64,
    /// The largest single collection chunk.
    pub max_chunk_bytes: u64,
    /// The largest score buffer of one launch.
    pub max_scores_bytes: u64,
    /// The most queries sent to the device at once.
    pub max_query_batch: usize,
    /// Candidate slots per query and tile; a query with more candidates reads its scores back.
    pub max_candidates_per_query: usize,
}

impl Sizes {
    /// Device memory every search needs besides the collection: the largest query batch, the
    /// score buffer, the segment keys (at most one per `MIN_SEGMENT_ROWS` scores, plus a ragged
    /// segment per query), a threshold and a count per query, and the candidate lists.
    pub fn working_bytes(&self, dim: usize) -> u64 {
        let batch = self.max_query_batch as u64;
        batch * dim as u64 * F32_BYTES
            + self.max_scores_bytes
            + self.max_scores_bytes / MIN_SEGMENT_ROWS as u64
            + batch * F32_BYTES
            + 2 * batch * F32_BYTES
            + batch * self.max_candidates_per_query as u64 * CANDIDATE_BYTES
    }
}

/// Whether the collection stays on the device or is streamed through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Residency {
    Resident,
    /// Larger than the budget: one chunk buffer is refilled from the host on every search.
    Streamed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkPlan {
    pub rows: usize,
    pub dim: usize,
    pub rows_per_chunk: usize,
    pub residency: Residency,
}

impl ChunkPlan {
    pub fn new(rows: usize, dim: usize, sizes: &Sizes) -> Result<Self, BackendError> {
        let row_bytes = dim as u64 * F32_BYTES;
        let working = sizes.working_bytes(dim);
        let for_collection = sizes.budget_bytes.saturating_sub(working);
        let chunk_bytes = sizes.max_chunk_bytes.min(for_collection);
        let rows_per_chunk = chunk_bytes / row_bytes;
        if rows_per_chunk == 0 {
            return Err(BackendError::OutOfMemory {
                requested_bytes: working + row_bytes,
                available_bytes: sizes.budget_bytes,
            });
        }
        let total = rows as u64 * row_bytes;
        Ok(Self {
            rows,
            dim,
            rows_per_chunk: usize::try_from(rows_per_chunk)
                .unwrap_or(usize::MAX)
                .min(rows.max(1)),
            residency: if total <= for_collection {
                Residency::Resident
            } else {
                Residency::Streamed
            },
        })
    }

    pub fn chunk_count(&self) -> usize {
        self.rows.div_ceil(self.rows_per_chunk)
    }

    /// First row and row count of chunk `index`.
    pub fn chunk(&self, index: usize) -> (usize, usize) {
        let start = index * self.rows_per_chunk;
        (start, self.rows_per_chunk.min(self.rows - start))
    }
}

/// Query batches and row tiles of one search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TilePlan {
    pub queries_per_batch: usize,
    pub rows_per_tile: usize,
}

impl TilePlan {
    pub fn new(queries: usize, rows_per_chunk: usize, sizes: &Sizes) -> Self {
        let scores = sizes.max_scores_bytes.max(F32_BYTES);
        // The whole batch first, down to one block of rows per tile: every batch re-reads the
        // collection, so fewer, wider batches move fewer bytes. The selection kernels give each
        // query its own row of blocks.
        let queries_per_batch = (queries.max(1) as u64)
            .min(sizes.max_query_batch.max(1) as u64)
            .min(u64::from(MAX_GRID_Y))
            .min((scores / (u64::from(BLOCK_SIZE) * F32_BYTES)).max(1));
        let rows_per_tile = (rows_per_chunk.max(1) as u64)
            .min(u64::from(MAX_GRID_Y) * u64::from(BLOCK_SIZE))
            .min(u64::from(u32::MAX))
            .min(scores / (queries_per_batch * F32_BYTES))
            .max(1);
        Self {
            queries_per_batch: queries_per_batch as usize,
            rows_per_tile: rows_per_tile as usize,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(budget_bytes: u64, max_chunk_bytes: u64) -> Sizes {
        Sizes {
            budget_bytes,
            max_chunk_bytes,
            max_scores_bytes: 1024,
            max_query_batch: 8,
            max_candidates_per_query: 2,
        }
    }

    #[test]
    fn the_working_set_is_reserved_before_the_collection() {
        // dim 4: 16 bytes a row. Queries 8 * 16, scores 1024, segment keys 1024 / 32 + 8 * 4,
        // thresholds and counts 8 * 8, candidates 8 * 2 * 8: 1408 bytes.
        let s = sizes(1408 + 160, 1 << 20);
        assert_eq!(s.working_bytes(4), 1408);
        let plan = ChunkPlan::new(10, 4, &s).unwrap();
        assert_eq!(
            (plan.rows_per_chunk, plan.residency),
            (10, Residency::Resident)
        );
        let plan = ChunkPlan::new(11, 4, &s).unwrap();
        assert_eq!(
            (plan.rows_per_chunk, plan.residency),
            (10, Residency::Streamed)
        );
        assert_eq!(plan.chunk_count(), 2);
        assert_eq!(plan.chunk(1), (10, 1));
    }

    #[test]
    fn the_chunk_bound_cuts_a_resident_collection_into_whole_rows() {
        let plan = ChunkPlan::new(1000, 4, &sizes(1 << 30, 16 * 97 + 5)).unwrap();
        assert_eq!(plan.rows_per_chunk, 97);
        assert_eq!(plan.residency, Residency::Resident);
        assert_eq!(plan.chunk_count(), 11);
        let covered: usize = (0..plan.chunk_count()).map(|i| plan.chunk(i).1).sum();
        assert_eq!(covered, 1000);
    }

    #[test]
    fn a_budget_without_room_for_one_row_is_out_of_memory_with_the_sizes() {
        match ChunkPlan::new(10, 4, &sizes(1416, 1 << 20)) {
            Err(BackendError::OutOfMemory {
                requested_bytes: 1424,
                available_bytes: 1416,
            }) => {}
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn an_empty_collection_has_no_chunks() {
        let plan = ChunkPlan::new(0, 4, &sizes(1 << 20, 1 << 20)).unwrap();
        assert_eq!(plan.chunk_count(), 0);
    }

    #[test]
    fn tiles_fit_the_score_buffer() {
        let s = Sizes {
            budget_bytes: 1 << 40,
            max_chunk_bytes: 1 << 40,
            max_scores_bytes: 64 << 20,
            max_query_batch: 256,
            max_candidates_per_query: 4096,
        };
        let plan = TilePlan::new(64, 1_000_000, &s);
        assert_eq!(
            plan,
            TilePlan {
                queries_per_batch: 64,
                rows_per_tile: 262_144
            }
        );
        // 1024 bytes of scores: two queries over one block of 128 rows.
        let plan = TilePlan::new(100, 1000, &sizes(1 << 20, 1 << 20));
        assert_eq!(
            plan,
            TilePlan {
                queries_per_batch: 2,
                rows_per_tile: 128
            }
        );
    }
}
