//! A collection on a [`SearchDevice`], searched by scoring tiles there, cutting each tile down to
//! top-k candidates there too, and picking the exact top-k from the candidates on the host.

use std::sync::{Arc, Mutex};

use knn_core::{BackendError, Hit, Matrix, Metric, Prepared, TopK, check_query_dim};

use crate::device::{CompactLaunch, ScoreLaunch, SearchDevice, SegmentLaunch};
use crate::kernel;
use crate::plan::{ChunkPlan, Residency, Sizes, TilePlan};
use crate::selection;

enum Storage<Floats> {
    Resident(Vec<Floats>),
    /// The host copy; each search refills one chunk buffer from it.
    Streamed(Matrix),
}

pub struct GpuCollection<D: SearchDevice> {
    device: Arc<D>,
    metric: Metric,
    plan: ChunkPlan,
    sizes: Sizes,
    storage: Storage<D::Floats>,
    /// Searches share the device's queue and their buffers; one runs at a time.
    lock: Mutex<()>,
}

impl<D: SearchDevice> GpuCollection<D> {
    /// Copies `vectors` to the device in chunks, or keeps them on the host to be streamed when
    /// they do not fit the budget in `sizes`.
    pub fn upload(
        device: Arc<D>,
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
                    let mut chunk = device.alloc_floats(data.len())?;
                    device.upload(&mut chunk, data)?;
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

/// Device buffers of one search, and their host mirrors, reused by every tile.
struct SearchBuffers<D: SearchDevice> {
    queries: D::Floats,
    scores: D::Floats,
    best: D::Floats,
    thresholds: D::Floats,
    counts: D::Indices,
    candidate_rows: D::Indices,
    candidate_scores: D::Floats,
    host_best: Vec<f32>,
    host_counts: Vec<u32>,
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

impl<D: SearchDevice> Prepared for GpuCollection<D> {
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
        let device = &*self.device;
        let dim = self.plan.dim;
        let tiles = TilePlan::new(queries.rows(), self.plan.rows_per_chunk, &self.sizes);
        let batch_max = tiles.queries_per_batch;
        let segment_rows = selection::segment_rows(tiles.rows_per_tile, k);
        let max_segments = selection::segment_count(tiles.rows_per_tile, segment_rows);
        let capacity = selection::candidate_capacity(k, self.sizes.max_candidates_per_query);
        let mut buffers = SearchBuffers::<D> {
            queries: device.alloc_floats(batch_max * dim)?,
            scores: device.alloc_floats(batch_max * tiles.rows_per_tile)?,
            best: device.alloc_floats(batch_max * max_segments)?,
            thresholds: device.alloc_floats(batch_max)?,
            counts: device.alloc_indices(batch_max)?,
            candidate_rows: device.alloc_indices(batch_max * capacity)?,
            candidate_scores: device.alloc_floats(batch_max * capacity)?,
            host_best: vec![0.0; batch_max * max_segments],
            host_counts: vec![0; batch_max],
            host_rows: vec![0; batch_max * capacity],
            host_scores: vec![0.0; batch_max * capacity],
            host_row_scores: Vec::new(),
        };
        let mut streamed = match self.storage {
            Storage::Streamed(_) => Some(device.alloc_floats(self.plan.rows_per_chunk * dim)?),
            Storage::Resident(_) => None,
        };

        for batch_start in (0..queries.rows()).step_by(batch_max) {
            let batch = batch_max.min(queries.rows() - batch_start);
            let values = &queries.as_slice()[batch_start * dim..(batch_start + batch) * dim];
            device.upload(&mut buffers.queries, values)?;
            let batch_tops = &mut tops[batch_start..batch_start + batch];
            for chunk in 0..self.plan.chunk_count() {
                let (chunk_start, chunk_rows) = self.plan.chunk(chunk);
                let vectors = match (&self.storage, streamed.as_mut()) {
                    (Storage::Resident(chunks), _) => &chunks[chunk],
                    (Storage::Streamed(matrix), Some(buffer)) => {
                        let rows =
                            &matrix.as_slice()[chunk_start * dim..(chunk_start + chunk_rows) * dim];
                        device.upload(buffer, rows)?;
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
                    let launch = ScoreLaunch {
                        metric: self.metric,
                        dim,
                        row_offset: tile_start,
                        rows: tile_rows,
                        queries: batch,
                    };
                    device.score(&launch, vectors, &buffers.queries, &mut buffers.scores)?;
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

impl<D: SearchDevice> GpuCollection<D> {
    /// Feeds the tile's candidates, selected on the device, into each query's top-k.
    fn select(
        &self,
        buffers: &mut SearchBuffers<D>,
        tile: &Tile,
        k: usize,
        tops: &mut [TopK],
    ) -> Result<(), BackendError> {
        let device = &*self.device;
        let sign = kernel::key_sign(self.metric);
        let segments = selection::segment_count(tile.rows, tile.segment_rows);
        let launch = SegmentLaunch {
            rows: tile.rows,
            segment_rows: tile.segment_rows,
            segments,
            queries: tile.queries,
            sign,
        };
        device.segment_best(&launch, &buffers.scores, &mut buffers.best)?;
        let keys = tile.queries * segments;
        device.download_floats(&buffers.best, 0, &mut buffers.host_best[..keys])?;
        let thresholds = selection::thresholds(&mut buffers.host_best[..keys], segments, k);
        device.upload(&mut buffers.thresholds, &thresholds)?;
        device.clear(&mut buffers.counts, tile.queries)?;

        let launch = CompactLaunch {
            rows: tile.rows,
            queries: tile.queries,
            capacity: tile.capacity,
            sign,
        };
        device.compact_candidates(
            &launch,
            &buffers.scores,
            &buffers.thresholds,
            &mut buffers.counts,
            &mut buffers.candidate_rows,
            &mut buffers.candidate_scores,
        )?;
        device.download_indices(&buffers.counts, &mut buffers.host_counts[..tile.queries])?;
        let most = buffers.host_counts[..tile.queries]
            .iter()
            .map(|&count| count as usize)
            .max()
            .unwrap_or(0)
            .min(tile.capacity);
        if most > 0 {
            // Query-major slots: the last query's list ends `most` slots into its own.
            let slots = (tile.queries - 1) * tile.capacity + most;
            device.download_indices(&buffers.candidate_rows, &mut buffers.host_rows[..slots])?;
            device.download_floats(
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
                device.download_floats(
                    &buffers.scores,
                    query * tile.rows,
                    &mut buffers.host_row_scores,
                )?;
                for (offset, &score) in buffers.host_row_scores.iter().enumerate() {
                    top.push((tile.first_row + offset) as u32, score);
                }
            }
        }
        Ok(())
    }
}
