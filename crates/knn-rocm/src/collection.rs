//! A collection in device memory, searched by scoring tiles on the GPU and selecting top-k on
//! the host.

use std::sync::{Arc, Mutex};

use knn_core::{BackendError, Hit, Matrix, Metric, Prepared, TopK, check_query_dim};
use rayon::prelude::*;

use crate::device::Device;
use crate::hip::args::{Arg, PackedArgs};
use crate::hip::runtime::DeviceBuffer;
use crate::kernel;
use crate::plan::{ChunkPlan, Residency, Sizes, TilePlan};

const F32_BYTES: usize = 4;

enum Storage {
    Resident(Vec<DeviceBuffer>),
    /// The host copy; each search refills one chunk buffer from it.
    Streamed(Matrix),
}

pub(crate) struct RocmCollection {
    device: Arc<Device>,
    metric: Metric,
    plan: ChunkPlan,
    sizes: Sizes,
    storage: Storage,
    /// Searches share the default stream and their buffers; one runs at a time.
    lock: Mutex<()>,
}

impl RocmCollection {
    pub fn upload(
        device: Arc<Device>,
        vectors: &Matrix,
        metric: Metric,
        sizes: Sizes,
    ) -> Result<Self, BackendError> {
        let plan = ChunkPlan::new(vectors.rows(), vectors.dim(), &sizes)?;
        let storage = match plan.residency {
            Residency::Streamed => Storage::Streamed(vectors.clone()),
            Residency::Resident => {
                let mut chunks = Vec::with_capacity(plan.chunk_count());
                for index in 0..plan.chunk_count() {
                    let (start, rows) = plan.chunk(index);
                    let data = &vectors.as_slice()[start * plan.dim..(start + rows) * plan.dim];
                    let mut chunk = device.hip.alloc(data.len() * F32_BYTES)?;
                    device.hip.upload(&mut chunk, data)?;
                    chunks.push(chunk);
                }
                Storage::Resident(chunks)
            }
        };
        Ok(Self {
            device,
            metric,
            plan,
            sizes,
            storage,
            lock: Mutex::new(()),
        })
    }
}

impl Prepared for RocmCollection {
    fn rows(&self) -> usize {
        self.plan.rows
    }

    fn search(&self, queries: &Matrix, k: usize) -> Result<Vec<Vec<Hit>>, BackendError> {
        check_query_dim(self.plan.dim, queries)?;
        let mut tops: Vec<TopK> = (0..queries.rows())
            .map(|_| TopK::new(k, self.metric))
            .collect();
        if k == 0 || self.plan.rows == 0 || queries.rows() == 0 {
            return Ok(tops.into_iter().map(TopK::into_sorted_vec).collect());
        }
        let _running = self
            .lock
            .lock()
            .map_err(|_| BackendError::Device("an earlier search panicked".into()))?;
        let hip = &self.device.hip;
        let dim = self.plan.dim;
        let tiles = TilePlan::new(queries.rows(), self.plan.rows_per_chunk, &self.sizes);
        let mut query_buffer = hip.alloc(tiles.queries_per_batch * dim * F32_BYTES)?;
        let scores = hip.alloc(tiles.queries_per_batch * tiles.rows_per_tile * F32_BYTES)?;
        let mut streamed = match self.storage {
            Storage::Streamed(_) => Some(hip.alloc(self.plan.rows_per_chunk * dim * F32_BYTES)?),
            Storage::Resident(_) => None,
        };
        let function = self.device.function(self.metric);
        let mut host_scores = vec![0f32; tiles.queries_per_batch * tiles.rows_per_tile];

        for batch_start in (0..queries.rows()).step_by(tiles.queries_per_batch) {
            let batch = tiles.queries_per_batch.min(queries.rows() - batch_start);
            let values = &queries.as_slice()[batch_start * dim..(batch_start + batch) * dim];
            hip.upload(&mut query_buffer, values)?;
            let batch_tops = &mut tops[batch_start..batch_start + batch];
            for chunk in 0..self.plan.chunk_count() {
                let (chunk_start, chunk_rows) = self.plan.chunk(chunk);
                let vectors = match (&self.storage, streamed.as_mut()) {
                    (Storage::Resident(chunks), _) => &chunks[chunk],
                    (Storage::Streamed(matrix), Some(buffer)) => {
                        let rows =
                            &matrix.as_slice()[chunk_start * dim..(chunk_start + chunk_rows) * dim];
                        hip.upload(buffer, rows)?;
                        &*buffer
                    }
                    (Storage::Streamed(_), None) => {
                        return Err(BackendError::Device(
                            "streamed collection without a chunk buffer".into(),
                        ));
                    }
                };
                for tile_start in (0..chunk_rows).step_by(tiles.rows_per_tile) {
                    let tile_rows = tiles.rows_per_tile.min(chunk_rows - tile_start);
                    // The kernel's parameter list, in order (see kernel.rs).
                    let args = PackedArgs::pack(&[
                        Arg::Pointer(vectors.device_pointer()),
                        Arg::Pointer(query_buffer.device_pointer()),
                        Arg::Pointer(scores.device_pointer()),
                        Arg::U32(dim as u32),
                        Arg::U64(tile_start as u64),
                        Arg::U32(tile_rows as u32),
                        Arg::U32(batch as u32),
                    ]);
                    hip.launch(
                        function,
                        kernel::grid(tile_rows, batch),
                        (kernel::BLOCK_SIZE, 1, 1),
                        &args,
                    )?;
                    let used = &mut host_scores[..batch * tile_rows];
                    hip.download(&scores, used)?;
                    select(batch_tops, used, tile_rows, chunk_start + tile_start);
                }
            }
        }
        Ok(tops.into_iter().map(TopK::into_sorted_vec).collect())
    }
}

/// Feeds a tile's query-major scores into each query's top-k, one query per worker.
fn select(tops: &mut [TopK], scores: &[f32], tile_rows: usize, first_row: usize) {
    tops.par_iter_mut()
        .zip(scores.par_chunks(tile_rows))
        .for_each(|(top, row_scores)| {
            for (offset, &score) in row_scores.iter().enumerate() {
                top.push((first_row + offset) as u32, score);
            }
        });
}
