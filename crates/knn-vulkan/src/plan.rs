//! How a collection and a query batch are cut so that every buffer fits the device's limits and
//! the memory budget. Pure arithmetic, tested without a device.

use knn_core::BackendError;

use crate::shader::{QUERY_TILE, ROW_TILE, WORKGROUP_SIZE};

const F32_BYTES: u64 = 4;

/// The device limits and configured budgets that bound buffer and dispatch sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// The largest buffer one shader binding may see (`max_storage_buffer_binding_size`, capped by
    /// `max_buffer_size`).
    pub max_binding_bytes: u64,
    /// Workgroups per dispatch dimension.
    pub max_workgroups: u32,
    /// The configured largest collection chunk, to keep single allocations small.
    pub max_chunk_bytes: u64,
    /// The configured largest score buffer (one is read back per tile).
    pub max_scores_bytes: u64,
}

/// `rows` rounded up to whole row tiles, as chunks are stored (see layout.rs).
pub fn padded_rows(rows: usize) -> usize {
    rows.next_multiple_of(ROW_TILE as usize)
}

/// How a collection is split into device buffers of whole rows. Every chunk but the last holds
/// a multiple of [`ROW_TILE`] rows, and each is padded to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkPlan {
    pub rows: usize,
    pub dim: usize,
    pub rows_per_chunk: usize,
}

impl ChunkPlan {
    pub fn new(rows: usize, dim: usize, bounds: &Bounds) -> Result<Self, BackendError> {
        let row_bytes = dim as u64 * F32_BYTES;
        let chunk_bytes = bounds.max_binding_bytes.min(bounds.max_chunk_bytes);
        // The shader indexes elements with u32.
        let by_index = u64::from(u32::MAX) / dim as u64;
        let tile = u64::from(ROW_TILE);
        let rows_per_chunk = (chunk_bytes / row_bytes).min(by_index) / tile * tile;
        if rows_per_chunk == 0 {
            // The chunk bound is the device's binding limit or the memory budget: either way the
            // smallest chunk, one row tile, needs more device memory than may be used.
            return Err(BackendError::OutOfMemory {
                requested_bytes: tile * row_bytes,
                available_bytes: chunk_bytes,
            });
        }
        Ok(Self {
            rows,
            dim,
            rows_per_chunk: usize::try_from(rows_per_chunk)
                .unwrap_or(usize::MAX)
                .min(rows.max(1)),
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

    /// Device bytes of chunk `index`, padding included.
    pub fn chunk_bytes(&self, index: usize) -> u64 {
        padded_rows(self.chunk(index).1) as u64 * self.dim as u64 * F32_BYTES
    }

    /// Device bytes of all chunks.
    pub fn total_bytes(&self) -> u64 {
        (0..self.chunk_count()).map(|i| self.chunk_bytes(i)).sum()
    }

    pub fn largest_chunk_bytes(&self) -> u64 {
        padded_rows(self.rows_per_chunk) as u64 * self.dim as u64 * F32_BYTES
    }
}

/// How one search is split into dispatches: batches of queries, and tiles of rows inside a chunk,
/// so that the score buffer of one dispatch fits its bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TilePlan {
    pub queries_per_batch: usize,
    pub rows_per_tile: usize,
}

impl TilePlan {
    pub fn new(
        queries: usize,
        dim: usize,
        rows_per_chunk: usize,
        bounds: &Bounds,
    ) -> Result<Self, BackendError> {
        let query_bytes = dim as u64 * F32_BYTES;
        let tile = u64::from(QUERY_TILE);
        let scores_bytes = bounds.max_binding_bytes.min(bounds.max_scores_bytes);
        // Queries travel in padded tiles (see layout.rs), so one tile must fit a binding.
        let row_tile = u64::from(ROW_TILE);
        if scores_bytes < row_tile * F32_BYTES || tile * query_bytes > bounds.max_binding_bytes {
            return Err(BackendError::InvalidInput(format!(
                "a query of dimension {dim} or its scores do not fit the device's bindings of {} bytes",
                bounds.max_binding_bytes
            )));
        }
        let max_workgroups = u64::from(bounds.max_workgroups);
        let workgroup_rows = u64::from(WORKGROUP_SIZE) * row_tile;
        let tile_rows_cap = (rows_per_chunk.max(1) as u64).min(max_workgroups * workgroup_rows);
        // The whole batch first, down to one workgroup of rows per tile: every batch re-reads
        // the collection, so fewer, wider batches move fewer bytes.
        let queries_cap = (queries.max(1) as u64)
            .min(bounds.max_binding_bytes / (tile * query_bytes) * tile)
            .min(max_workgroups * u64::from(QUERY_TILE))
            .min((scores_bytes / (workgroup_rows * F32_BYTES)).max(1));
        // Tiles start at multiples of ROW_TILE inside a chunk (the shader reads vec4s of rows).
        let rows_per_tile =
            (tile_rows_cap.min(scores_bytes / (queries_cap * F32_BYTES)) / row_tile * row_tile)
                .max(row_tile);
        Ok(Self {
            queries_per_batch: queries_cap as usize,
            rows_per_tile: rows_per_tile as usize,
        })
    }

    pub fn scores_bytes(&self) -> u64 {
        self.queries_per_batch as u64 * self.rows_per_tile as u64 * F32_BYTES
    }
}

/// Workgroups to dispatch for a tile of `rows` rows and `queries` queries.
pub fn workgroups(rows: usize, queries: usize) -> (u32, u32) {
    (
        (rows as u32).div_ceil(ROW_TILE).div_ceil(WORKGROUP_SIZE),
        (queries as u32).div_ceil(QUERY_TILE),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds(max_binding_bytes: u64, max_chunk_bytes: u64, max_scores_bytes: u64) -> Bounds {
        Bounds {
            max_binding_bytes,
            max_workgroups: 65_535,
            max_chunk_bytes,
            max_scores_bytes,
        }
    }

    #[test]
    fn chunks_hold_whole_rows_within_the_smaller_bound_and_cover_the_collection() {
        // 10 floats per row = 40 bytes; a 1000-byte chunk bound holds 25 rows, so 24 (whole
        // row tiles).
        let plan = ChunkPlan::new(103, 10, &bounds(1 << 20, 1000, 1 << 20)).unwrap();
        assert_eq!(plan.rows_per_chunk, 24);
        assert_eq!(plan.chunk_count(), 5);
        assert_eq!(plan.chunk(4), (96, 7));
        // The last chunk's 7 rows are padded to 8.
        assert_eq!(plan.chunk_bytes(4), 8 * 40);
        assert_eq!(plan.total_bytes(), (4 * 24 + 8) * 40);
        assert!(plan.largest_chunk_bytes() <= 1000);
        let covered: usize = (0..plan.chunk_count()).map(|i| plan.chunk(i).1).sum();
        assert_eq!(covered, 103);
        // The binding limit wins when it is the smaller one.
        let plan = ChunkPlan::new(103, 10, &bounds(400, 1000, 1 << 20)).unwrap();
        assert_eq!(plan.rows_per_chunk, 8);
    }

    #[test]
    fn a_small_collection_is_one_chunk_and_an_empty_one_none() {
        let plan = ChunkPlan::new(7, 3, &bounds(1 << 30, 1 << 30, 1 << 20)).unwrap();
        assert_eq!((plan.rows_per_chunk, plan.chunk_count()), (7, 1));
        assert_eq!(plan.chunk_bytes(0), 8 * 12);
        let empty = ChunkPlan::new(0, 3, &bounds(1 << 30, 1 << 30, 1 << 20)).unwrap();
        assert_eq!(empty.chunk_count(), 0);
    }

    #[test]
    fn a_row_tile_larger_than_a_chunk_is_out_of_memory_with_the_sizes() {
        // Rows of 4000 bytes: the smallest chunk is one tile of four rows.
        let err = ChunkPlan::new(10, 1000, &bounds(1 << 20, 15_999, 1 << 20)).unwrap_err();
        assert!(
            matches!(
                err,
                BackendError::OutOfMemory {
                    requested_bytes: 16_000,
                    available_bytes: 15_999
                }
            ),
            "{err}"
        );
        assert!(ChunkPlan::new(10, 1000, &bounds(1 << 20, 16_000, 1 << 20)).is_ok());
    }

    #[test]
    fn tiles_keep_the_score_buffer_within_its_bound() {
        // 1M rows, 64 queries, 64 MiB of scores: 64 queries x 262144 rows x 4 bytes.
        let plan = TilePlan::new(64, 128, 1_000_000, &bounds(1 << 30, 1 << 30, 64 << 20)).unwrap();
        assert_eq!(plan.queries_per_batch, 64);
        assert_eq!(plan.rows_per_tile, 262_144);
        assert!(plan.scores_bytes() <= 64 << 20);
    }

    #[test]
    fn a_tiny_score_bound_shrinks_the_query_batch_before_the_rows() {
        // 16 bytes of scores: one query at a time, four rows per tile.
        let plan = TilePlan::new(10, 8, 100, &bounds(1 << 20, 1 << 20, 16)).unwrap();
        assert_eq!(
            plan,
            TilePlan {
                queries_per_batch: 1,
                rows_per_tile: 4
            }
        );
        // Enough room for every query over a small chunk: one batch, one tile.
        let plan = TilePlan::new(10, 8, 100, &bounds(1 << 20, 1 << 20, 1 << 20)).unwrap();
        assert_eq!(
            plan,
            TilePlan {
                queries_per_batch: 10,
                rows_per_tile: 100
            }
        );
    }

    #[test]
    fn dispatch_sizes_respect_the_workgroup_limit() {
        let b = Bounds {
            max_binding_bytes: 1 << 40,
            max_workgroups: 2,
            max_chunk_bytes: 1 << 40,
            max_scores_bytes: 1 << 40,
        };
        let plan = TilePlan::new(100, 4, 10_000, &b).unwrap();
        assert_eq!(plan.rows_per_tile, (2 * WORKGROUP_SIZE * ROW_TILE) as usize);
        assert_eq!(plan.queries_per_batch, 2 * QUERY_TILE as usize);
        let (x, y) = workgroups(plan.rows_per_tile, plan.queries_per_batch);
        assert_eq!((x, y), (2, 2));
        // 257 rows are 65 row tiles: two workgroups of 64 invocations.
        assert_eq!(workgroups(257, 9), (2, 2));
        assert_eq!(workgroups(256, 8), (1, 1));
    }

    #[test]
    fn a_query_too_large_for_a_binding_is_an_error() {
        // One padded tile of 8 queries of dim 1000 is 32000 bytes.
        assert!(TilePlan::new(1, 1000, 10, &bounds(31_999, 1 << 20, 1 << 20)).is_err());
        assert!(TilePlan::new(1, 1000, 10, &bounds(32_000, 1 << 20, 1 << 20)).is_ok());
    }
}
