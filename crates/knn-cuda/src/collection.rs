//! A collection in device memory, searched by scoring tiles on the GPU and selecting top-k on
//! the host.

use std::sync::{Arc, Mutex};

use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};
use knn_core::{BackendError, Hit, Matrix, Metric, Prepared, TopK, check_query_dim};
use rayon::prelude::*;

use crate::device::Device;
use crate::errors;
use crate::kernel;
use crate::plan::{ChunkPlan, Residency, Sizes, TilePlan};

enum Storage {
    Resident(Vec<CudaSlice<f32>>),
    /// The host copy; each search refills one chunk buffer from it.
    Streamed(Matrix),
}

pub(crate) struct CudaCollection {
    device: Arc<Device>,
    metric: Metric,
    plan: ChunkPlan,
    sizes: Sizes,
    storage: Storage,
    /// Searches share the device's stream and their buffers; one runs at a time.
    lock: Mutex<()>,
}

const F32_BYTES: u64 = 4;

impl CudaCollection {
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
                    let free = device.free_bytes()?;
                    let chunk = device
                        .stream
                        .clone_htod(data)
                        .map_err(|e| errors::allocation(e, data.len() as u64 * F32_BYTES, free))?;
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

    fn alloc(&self, len: usize) -> Result<CudaSlice<f32>, BackendError> {
        let free = self.device.free_bytes()?;
        self.device
            .stream
            .alloc_zeros::<f32>(len.max(1))
            .map_err(|e| errors::allocation(e, len as u64 * F32_BYTES, free))
    }
}

impl Prepared for CudaCollection {
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
        let dim = self.plan.dim;
        let tiles = TilePlan::new(queries.rows(), self.plan.rows_per_chunk, &self.sizes);
        let mut query_buffer = self.alloc(tiles.queries_per_batch * dim)?;
        let mut scores = self.alloc(tiles.queries_per_batch * tiles.rows_per_tile)?;
        let mut streamed = match self.storage {
            Storage::Streamed(_) => Some(self.alloc(self.plan.rows_per_chunk * dim)?),
            Storage::Resident(_) => None,
        };
        let stream = &self.device.stream;
        let function = self.device.function(self.metric);

        for batch_start in (0..queries.rows()).step_by(tiles.queries_per_batch) {
            let batch = tiles.queries_per_batch.min(queries.rows() - batch_start);
            let values = &queries.as_slice()[batch_start * dim..(batch_start + batch) * dim];
            stream
                .memcpy_htod(values, &mut query_buffer)
                .map_err(|e| errors::driver(e, "copying queries"))?;
            let batch_tops = &mut tops[batch_start..batch_start + batch];
            for chunk in 0..self.plan.chunk_count() {
                let (chunk_start, chunk_rows) = self.plan.chunk(chunk);
                let vectors = match (&self.storage, streamed.as_mut()) {
                    (Storage::Resident(chunks), _) => &chunks[chunk],
                    (Storage::Streamed(matrix), Some(buffer)) => {
                        let rows =
                            &matrix.as_slice()[chunk_start * dim..(chunk_start + chunk_rows) * dim];
                        stream
                            .memcpy_htod(rows, buffer)
                            .map_err(|e| errors::driver(e, "streaming a chunk"))?;
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
                    let config = LaunchConfig {
                        grid_dim: kernel::grid(tile_rows, batch),
                        block_dim: (kernel::BLOCK_SIZE, 1, 1),
                        shared_mem_bytes: 0,
                    };
                    let (dim_arg, offset_arg) = (dim as u32, tile_start as u64);
                    let (rows_arg, queries_arg) = (tile_rows as u32, batch as u32);
                    let mut launch = stream.launch_builder(function);
                    launch
                        .arg(vectors)
                        .arg(&query_buffer)
                        .arg(&mut scores)
                        .arg(&dim_arg)
                        .arg(&offset_arg)
                        .arg(&rows_arg)
                        .arg(&queries_arg);
                    // SAFETY: the argument list matches the kernel's signature in kernel.rs
                    // (three pointers, u32, u64, u32, u32), and the grid never indexes past
                    // the buffers: rows and queries are bounded by the plans that sized them.
                    unsafe { launch.launch(config) }
                        .map_err(|e| errors::driver(e, "launching the scoring kernel"))?;
                    let used = scores.slice(0..batch * tile_rows);
                    let host = stream
                        .clone_dtoh(&used)
                        .map_err(|e| errors::driver(e, "reading back scores"))?;
                    select(batch_tops, &host, tile_rows, chunk_start + tile_start);
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
