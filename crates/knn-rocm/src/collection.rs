//! A collection in device memory, searched by scoring tiles on the GPU, cutting each tile down
//! to top-k candidates there, and picking the exact top-k from the candidates on the host.

use std::sync::{Arc, Mutex};

use knn_core::{BackendError, Hit, Matrix, Metric, Prepared, TopK, check_query_dim};
use knn_gpu::kernel;
use knn_gpu::plan::{ChunkPlan, Residency, Sizes, TilePlan};
use knn_gpu::selection;

use crate::device::Device;
use crate::hip::args::{Arg, PackedArgs};
use crate::hip::runtime::DeviceBuffer;

const F32_BYTES: usize = 4;
const U32_BYTES: usize = 4;

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
        let batch_max = tiles.queries_per_batch;
        let segment_rows = selection::segment_rows(tiles.rows_per_tile, k);
        let max_segments = selection::segment_count(tiles.rows_per_tile, segment_rows);
        let capacity = selection::candidate_capacity(k, self.sizes.max_candidates_per_query);
        let mut buffers = SearchBuffers {
            queries: hip.alloc(batch_max * dim * F32_BYTES)?,
            scores: hip.alloc(batch_max * tiles.rows_per_tile * F32_BYTES)?,
            best: hip.alloc(batch_max * max_segments * F32_BYTES)?,
            thresholds: hip.alloc(batch_max * F32_BYTES)?,
            counts: hip.alloc(batch_max * U32_BYTES)?,
            candidate_rows: hip.alloc(batch_max * capacity * U32_BYTES)?,
            candidate_scores: hip.alloc(batch_max * capacity * F32_BYTES)?,
            host_best: vec![0.0; batch_max * max_segments],
            host_counts: vec![0; batch_max],
            zero_counts: vec![0; batch_max],
            host_rows: vec![0; batch_max * capacity],
            host_scores: vec![0.0; batch_max * capacity],
            host_row_scores: Vec::new(),
        };
        let mut streamed = match self.storage {
            Storage::Streamed(_) => Some(hip.alloc(self.plan.rows_per_chunk * dim * F32_BYTES)?),
            Storage::Resident(_) => None,
        };
        let function = self.device.function(self.metric);

        for batch_start in (0..queries.rows()).step_by(batch_max) {
            let batch = batch_max.min(queries.rows() - batch_start);
            let values = &queries.as_slice()[batch_start * dim..(batch_start + batch) * dim];
            hip.upload(&mut buffers.queries, values)?;
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
                    // The scoring kernel's parameter list, in order (knn-gpu's kernel.rs).
                    let args = PackedArgs::pack(&[
                        Arg::Pointer(vectors.device_pointer()),
                        Arg::Pointer(buffers.queries.device_pointer()),
                        Arg::Pointer(buffers.scores.device_pointer()),
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
                    let tile = Tile {
                        first_row: chunk_start + tile_start,
                        rows: tile_rows,
                        queries: batch,
                        segment_rows,
                        capacity,
                    };
                    self.select(&mut buffers, &tile, k, batch_tops)?;
                }
            }
        }
        Ok(tops.into_iter().map(TopK::into_sorted_vec).collect())
    }
}

/// Device buffers of one search, and their host mirrors, reused by every tile.
struct SearchBuffers {
    queries: DeviceBuffer,
    scores: DeviceBuffer,
    best: DeviceBuffer,
    thresholds: DeviceBuffer,
    counts: DeviceBuffer,
    candidate_rows: DeviceBuffer,
    candidate_scores: DeviceBuffer,
    host_best: Vec<f32>,
    host_counts: Vec<u32>,
    /// Uploaded to clear the counts before each tile.
    zero_counts: Vec<u32>,
    host_rows: Vec<u32>,
    host_scores: Vec<f32>,
    /// A whole score row of one query, for a query whose candidates overflowed.
    host_row_scores: Vec<f32>,
}

/// Where one scored tile sits in the collection, and how it is selected.
struct Tile {
    first_row: usize,
    rows: usize,
    queries: usize,
    segment_rows: usize,
    capacity: usize,
}

impl RocmCollection {
    /// Feeds the tile's candidates, selected on the device, into each query's top-k.
    fn select(
        &self,
        buffers: &mut SearchBuffers,
        tile: &Tile,
        k: usize,
        tops: &mut [TopK],
    ) -> Result<(), BackendError> {
        let hip = &self.device.hip;
        let sign = kernel::key_sign(self.metric);
        let segments = selection::segment_count(tile.rows, tile.segment_rows);

        // `segment_best`'s parameter list, in order (knn-gpu's kernel.rs).
        let args = PackedArgs::pack(&[
            Arg::Pointer(buffers.scores.device_pointer()),
            Arg::Pointer(buffers.best.device_pointer()),
            Arg::U32(tile.rows as u32),
            Arg::U32(tile.segment_rows as u32),
            Arg::U32(segments as u32),
            Arg::F32(sign),
        ]);
        hip.launch(
            &self.device.segment_best,
            kernel::segment_grid(segments, tile.queries),
            (kernel::SELECT_BLOCK_SIZE, 1, 1),
            &args,
        )?;
        let keys = tile.queries * segments;
        hip.download(&buffers.best, 0, &mut buffers.host_best[..keys])?;
        let thresholds = selection::thresholds(&buffers.host_best[..keys], segments, k);
        hip.upload(&mut buffers.thresholds, &thresholds)?;
        hip.upload(&mut buffers.counts, &buffers.zero_counts[..tile.queries])?;

        // `compact_candidates`'s parameter list, in order (knn-gpu's kernel.rs).
        let args = PackedArgs::pack(&[
            Arg::Pointer(buffers.scores.device_pointer()),
            Arg::Pointer(buffers.thresholds.device_pointer()),
            Arg::Pointer(buffers.counts.device_pointer()),
            Arg::Pointer(buffers.candidate_rows.device_pointer()),
            Arg::Pointer(buffers.candidate_scores.device_pointer()),
            Arg::U32(tile.rows as u32),
            Arg::U32(tile.capacity as u32),
            Arg::F32(sign),
        ]);
        hip.launch(
            &self.device.compact_candidates,
            kernel::compact_grid(tile.rows, tile.queries),
            (kernel::SELECT_BLOCK_SIZE, 1, 1),
            &args,
        )?;
        hip.download(&buffers.counts, 0, &mut buffers.host_counts[..tile.queries])?;
        let most = buffers.host_counts[..tile.queries]
            .iter()
            .map(|&count| count as usize)
            .max()
            .unwrap_or(0)
            .min(tile.capacity);
        if most > 0 {
            let slots = (tile.queries - 1) * tile.capacity + most;
            hip.download(&buffers.candidate_rows, 0, &mut buffers.host_rows[..slots])?;
            hip.download(
                &buffers.candidate_scores,
                0,
                &mut buffers.host_scores[..slots],
            )?;
        }

        for (query, top) in tops.iter_mut().enumerate().take(tile.queries) {
            let count = buffers.host_counts[query] as usize;
            if count <= tile.capacity {
                let slots = query * tile.capacity..query * tile.capacity + count;
                for (&row, &score) in buffers.host_rows[slots.clone()]
                    .iter()
                    .zip(&buffers.host_scores[slots])
                {
                    top.push((tile.first_row + row as usize) as u32, score);
                }
            } else {
                buffers.host_row_scores.resize(tile.rows, 0.0);
                hip.download(
                    &buffers.scores,
                    query * tile.rows,
                    &mut buffers.host_row_scores[..],
                )?;
                for (offset, &score) in buffers.host_row_scores.iter().enumerate() {
                    top.push((tile.first_row + offset) as u32, score);
                }
            }
        }
        Ok(())
    }
}
