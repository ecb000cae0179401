//! A collection in device memory, searched by scoring tiles on the GPU, cutting each tile down
//! to top-k candidates there, and picking the exact top-k from the candidates on the host.

use std::sync::{Arc, Mutex};

use cudarc::driver::{CudaSlice, DeviceRepr, LaunchConfig, PushKernelArg, ValidAsZeroBits};
use knn_core::{BackendError, Hit, Matrix, Metric, Prepared, TopK, check_query_dim};

use knn_gpu::kernel;
use knn_gpu::plan::{ChunkPlan, Residency, Sizes, TilePlan};
use knn_gpu::selection;

use crate::device::Device;
use crate::errors;

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
                        .map_err(|e| errors::allocation(e, size_of_val(data) as u64, free))?;
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

    fn alloc<T: DeviceRepr + ValidAsZeroBits>(
        &self,
        len: usize,
    ) -> Result<CudaSlice<T>, BackendError> {
        let free = self.device.free_bytes()?;
        self.device
            .stream
            .alloc_zeros::<T>(len.max(1))
            .map_err(|e| errors::allocation(e, (len * size_of::<T>()) as u64, free))
    }
}

/// Device buffers of one search, and their host mirrors, reused by every tile.
struct SearchBuffers {
    queries: CudaSlice<f32>,
    scores: CudaSlice<f32>,
    best: CudaSlice<f32>,
    thresholds: CudaSlice<f32>,
    counts: CudaSlice<u32>,
    candidate_rows: CudaSlice<u32>,
    candidate_scores: CudaSlice<f32>,
    host_best: Vec<f32>,
    host_counts: Vec<u32>,
    host_rows: Vec<u32>,
    host_scores: Vec<f32>,
    /// A whole score row of one query, for a query whose candidates overflowed.
    host_row_scores: Vec<f32>,
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
        let batch_max = tiles.queries_per_batch;
        let segment_rows = selection::segment_rows(tiles.rows_per_tile, k);
        let max_segments = selection::segment_count(tiles.rows_per_tile, segment_rows);
        let capacity = selection::candidate_capacity(k, self.sizes.max_candidates_per_query);
        let mut buffers = SearchBuffers {
            queries: self.alloc(batch_max * dim)?,
            scores: self.alloc(batch_max * tiles.rows_per_tile)?,
            best: self.alloc(batch_max * max_segments)?,
            thresholds: self.alloc(batch_max)?,
            counts: self.alloc(batch_max)?,
            candidate_rows: self.alloc(batch_max * capacity)?,
            candidate_scores: self.alloc(batch_max * capacity)?,
            host_best: vec![0.0; batch_max * max_segments],
            host_counts: vec![0; batch_max],
            host_rows: vec![0; batch_max * capacity],
            host_scores: vec![0.0; batch_max * capacity],
            host_row_scores: Vec::new(),
        };
        let mut streamed = match self.storage {
            Storage::Streamed(_) => Some(self.alloc::<f32>(self.plan.rows_per_chunk * dim)?),
            Storage::Resident(_) => None,
        };
        let stream = &self.device.stream;
        let function = self.device.function(self.metric);

        for batch_start in (0..queries.rows()).step_by(batch_max) {
            let batch = batch_max.min(queries.rows() - batch_start);
            let values = &queries.as_slice()[batch_start * dim..(batch_start + batch) * dim];
            stream
                .memcpy_htod(values, &mut buffers.queries)
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
                        .arg(&buffers.queries)
                        .arg(&mut buffers.scores)
                        .arg(&dim_arg)
                        .arg(&offset_arg)
                        .arg(&rows_arg)
                        .arg(&queries_arg);
                    // SAFETY: the argument list matches the kernel's signature in kernel.rs
                    // (three pointers, u32, u64, u32, u32), and the grid never indexes past
                    // the buffers: rows and queries are bounded by the plans that sized them.
                    unsafe { launch.launch(config) }
                        .map_err(|e| errors::driver(e, "launching the scoring kernel"))?;
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

/// Where one scored tile sits in the collection, and how it is selected.
struct Tile {
    first_row: usize,
    rows: usize,
    queries: usize,
    segment_rows: usize,
    capacity: usize,
}

impl CudaCollection {
    /// Feeds the tile's candidates, selected on the device, into each query's top-k.
    fn select(
        &self,
        buffers: &mut SearchBuffers,
        tile: &Tile,
        k: usize,
        tops: &mut [TopK],
    ) -> Result<(), BackendError> {
        let stream = &self.device.stream;
        let sign = kernel::key_sign(self.metric);
        let segments = selection::segment_count(tile.rows, tile.segment_rows);
        let (rows_arg, segment_rows_arg, segments_arg, capacity_arg) = (
            tile.rows as u32,
            tile.segment_rows as u32,
            segments as u32,
            tile.capacity as u32,
        );

        let mut launch = stream.launch_builder(&self.device.segment_best);
        launch
            .arg(&buffers.scores)
            .arg(&mut buffers.best)
            .arg(&rows_arg)
            .arg(&segment_rows_arg)
            .arg(&segments_arg)
            .arg(&sign);
        let config = LaunchConfig {
            grid_dim: kernel::segment_grid(segments, tile.queries),
            block_dim: (kernel::SELECT_BLOCK_SIZE, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: matches `segment_best` in kernel.rs (two pointers, u32, u32, u32, f32); the
        // grid has one block per segment and query, and `best` holds `segments` keys for each
        // query of the largest batch.
        unsafe { launch.launch(config) }
            .map_err(|e| errors::driver(e, "launching the segment kernel"))?;
        let keys = tile.queries * segments;
        stream
            .memcpy_dtoh(&buffers.best.slice(0..keys), &mut buffers.host_best[..keys])
            .map_err(|e| errors::driver(e, "reading back segment keys"))?;
        let thresholds = selection::thresholds(&buffers.host_best[..keys], segments, k);
        stream
            .memcpy_htod(&thresholds, &mut buffers.thresholds)
            .map_err(|e| errors::driver(e, "copying thresholds"))?;
        stream
            .memset_zeros(&mut buffers.counts)
            .map_err(|e| errors::driver(e, "clearing candidate counts"))?;

        let mut launch = stream.launch_builder(&self.device.compact_candidates);
        launch
            .arg(&buffers.scores)
            .arg(&buffers.thresholds)
            .arg(&mut buffers.counts)
            .arg(&mut buffers.candidate_rows)
            .arg(&mut buffers.candidate_scores)
            .arg(&rows_arg)
            .arg(&capacity_arg)
            .arg(&sign);
        let config = LaunchConfig {
            grid_dim: kernel::compact_grid(tile.rows, tile.queries),
            block_dim: (kernel::SELECT_BLOCK_SIZE, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: matches `compact_candidates` in kernel.rs (five pointers, u32, u32, f32); a
        // thread per row and query, and candidate slots past `capacity` are never written.
        unsafe { launch.launch(config) }
            .map_err(|e| errors::driver(e, "launching the candidate kernel"))?;
        stream
            .memcpy_dtoh(
                &buffers.counts.slice(0..tile.queries),
                &mut buffers.host_counts[..tile.queries],
            )
            .map_err(|e| errors::driver(e, "reading back candidate counts"))?;
        let most = buffers.host_counts[..tile.queries]
            .iter()
            .map(|&count| count as usize)
            .max()
            .unwrap_or(0)
            .min(tile.capacity);
        if most > 0 {
            let slots = (tile.queries - 1) * tile.capacity + most;
            stream
                .memcpy_dtoh(
                    &buffers.candidate_rows.slice(0..slots),
                    &mut buffers.host_rows[..slots],
                )
                .map_err(|e| errors::driver(e, "reading back candidate rows"))?;
            stream
                .memcpy_dtoh(
                    &buffers.candidate_scores.slice(0..slots),
                    &mut buffers.host_scores[..slots],
                )
                .map_err(|e| errors::driver(e, "reading back candidate scores"))?;
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
                let row_scores = buffers
                    .scores
                    .slice(query * tile.rows..(query + 1) * tile.rows);
                buffers.host_row_scores.resize(tile.rows, 0.0);
                stream
                    .memcpy_dtoh(&row_scores, &mut buffers.host_row_scores[..])
                    .map_err(|e| errors::driver(e, "reading back an overflowing score row"))?;
                for (offset, &score) in buffers.host_row_scores.iter().enumerate() {
                    top.push((tile.first_row + offset) as u32, score);
                }
            }
        }
        Ok(())
    }
}
