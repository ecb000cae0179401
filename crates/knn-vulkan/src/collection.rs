//! A collection on the device, searched by scoring tiles on the GPU and selecting top-k on the host.

use std::sync::Arc;

use knn_core::{BackendError, Hit, Matrix, Metric, Prepared, TopK, check_query_dim};
use rayon::prelude::*;
use wgpu::util::DeviceExt;

use crate::errors::Scopes;
use crate::gpu::Gpu;
use crate::layout;
use crate::plan::{Bounds, ChunkPlan, TilePlan, padded_rows, workgroups};

/// Where the collection's rows live between searches.
enum Storage {
    /// One device buffer per chunk, uploaded once.
    Resident(Vec<wgpu::Buffer>),
    /// Larger than the memory budget: kept on the host in device layout, each chunk copied in
    /// for every search.
    Streamed(Vec<Vec<f32>>),
}

pub(crate) struct VulkanCollection {
    gpu: Arc<Gpu>,
    metric: Metric,
    plan: ChunkPlan,
    bounds: Bounds,
    storage: Storage,
}

/// The uniform block of the shader (`Params` in scores.wgsl).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    dim: u32,
    stride: u32,
    row_offset: u32,
    rows: u32,
    queries: u32,
    padding: [u32; 3],
}

impl VulkanCollection {
    pub fn upload(
        gpu: Arc<Gpu>,
        vectors: &Matrix,
        metric: Metric,
        bounds: Bounds,
        memory_budget_bytes: u64,
    ) -> Result<Self, BackendError> {
        let plan = ChunkPlan::new(vectors.rows(), vectors.dim(), &bounds)?;
        let storage = if plan.total_bytes() <= memory_budget_bytes {
            let mut buffers = Vec::with_capacity(plan.chunk_count());
            let mut allocated = 0;
            for index in 0..plan.chunk_count() {
                let (start, rows) = plan.chunk(index);
                let data = layout::dimension_major(vectors, start, rows);
                let scopes = Scopes::push(&gpu.device);
                let buffer = gpu
                    .device
                    .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                        label: Some("knn chunk"),
                        contents: bytemuck::cast_slice(&data),
                        usage: wgpu::BufferUsages::STORAGE,
                    });
                scopes.finish(plan.chunk_bytes(index), memory_budget_bytes - allocated)?;
                allocated += plan.chunk_bytes(index);
                buffers.push(buffer);
            }
            Storage::Resident(buffers)
        } else {
            Storage::Streamed(
                (0..plan.chunk_count())
                    .map(|index| {
                        let (start, rows) = plan.chunk(index);
                        layout::dimension_major(vectors, start, rows)
                    })
                    .collect(),
            )
        };
        Ok(Self {
            gpu,
            metric,
            plan,
            bounds,
            storage,
        })
    }

    fn buffer(&self, size: u64, usage: wgpu::BufferUsages, label: &str) -> wgpu::Buffer {
        self.gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: size.max(4),
            usage,
            mapped_at_creation: false,
        })
    }
}

impl Prepared for VulkanCollection {
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
        let dim = self.plan.dim;
        let tiles = TilePlan::new(queries.rows(), dim, self.plan.rows_per_chunk, &self.bounds)?;
        let gpu = &self.gpu;
        let device = &gpu.device;

        let query_bytes = layout::query_tiles_bytes(tiles.queries_per_batch, dim);
        let stream_bytes = match self.storage {
            Storage::Streamed(_) => self.plan.largest_chunk_bytes(),
            Storage::Resident(_) => 0,
        };
        let working_bytes = query_bytes + 2 * tiles.scores_bytes() + stream_bytes;
        let scopes = Scopes::push(device);
        let params = self.buffer(
            std::mem::size_of::<Params>() as u64,
            wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            "knn params",
        );
        let query_buffer = self.buffer(
            query_bytes,
            wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            "knn queries",
        );
        let scores = self.buffer(
            tiles.scores_bytes(),
            wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            "knn scores",
        );
        let readback = self.buffer(
            tiles.scores_bytes(),
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            "knn readback",
        );
        let streamed = match self.storage {
            Storage::Streamed(_) => Some(self.buffer(
                stream_bytes,
                wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                "knn streamed chunk",
            )),
            Storage::Resident(_) => None,
        };
        // Memory is not budgeted per search: the budget bounds the resident collection, so the
        // best statement of what is left is unknown to wgpu; report what was asked for.
        scopes.finish(working_bytes, 0)?;

        let scopes = Scopes::push(device);
        let result = self.run(
            queries,
            &tiles,
            &mut tops,
            &params,
            &query_buffer,
            &scores,
            &readback,
            streamed.as_ref(),
        );
        scopes.finish(working_bytes, 0)?;
        result?;
        gpu.take_uncaptured()?;
        Ok(tops.into_iter().map(TopK::into_sorted_vec).collect())
    }
}

impl VulkanCollection {
    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        queries: &Matrix,
        tiles: &TilePlan,
        tops: &mut [TopK],
        params: &wgpu::Buffer,
        query_buffer: &wgpu::Buffer,
        scores: &wgpu::Buffer,
        readback: &wgpu::Buffer,
        streamed: Option<&wgpu::Buffer>,
    ) -> Result<(), BackendError> {
        let gpu = &self.gpu;
        let dim = self.plan.dim;
        for batch_start in (0..queries.rows()).step_by(tiles.queries_per_batch) {
            let batch = tiles.queries_per_batch.min(queries.rows() - batch_start);
            let packed = layout::query_tiles(queries, batch_start, batch);
            gpu.queue
                .write_buffer(query_buffer, 0, bytemuck::cast_slice(&packed));
            let batch_tops = &mut tops[batch_start..batch_start + batch];
            for chunk in 0..self.plan.chunk_count() {
                let (chunk_start, chunk_rows) = self.plan.chunk(chunk);
                let vectors = match (&self.storage, streamed) {
                    (Storage::Resident(buffers), _) => &buffers[chunk],
                    (Storage::Streamed(chunks), Some(buffer)) => {
                        gpu.queue
                            .write_buffer(buffer, 0, bytemuck::cast_slice(&chunks[chunk]));
                        buffer
                    }
                    (Storage::Streamed(_), None) => {
                        return Err(BackendError::Device(
                            "streamed collection without a chunk buffer".into(),
                        ));
                    }
                };
                let bind_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("knn scores"),
                    layout: &gpu.layout,
                    entries: &[
                        entry(0, params),
                        entry(1, vectors),
                        entry(2, query_buffer),
                        entry(3, scores),
                    ],
                });
                for tile_start in (0..chunk_rows).step_by(tiles.rows_per_tile) {
                    let tile_rows = tiles.rows_per_tile.min(chunk_rows - tile_start);
                    let first_row = chunk_start + tile_start;
                    self.score_tile(
                        &bind_group,
                        params,
                        scores,
                        readback,
                        Params {
                            dim: dim as u32,
                            stride: padded_rows(chunk_rows) as u32,
                            row_offset: tile_start as u32,
                            rows: tile_rows as u32,
                            queries: batch as u32,
                            padding: [0; 3],
                        },
                        |values| select(batch_tops, values, tile_rows, first_row),
                    )?;
                }
            }
        }
        Ok(())
    }

    /// Scores one tile on the device and hands the scores, query-major, to `consume` straight
    /// from the mapped readback buffer (a copy of a 64 MiB tile would cost as much as the
    /// selection).
    #[allow(clippy::too_many_arguments)]
    fn score_tile(
        &self,
        bind_group: &wgpu::BindGroup,
        params: &wgpu::Buffer,
        scores: &wgpu::Buffer,
        readback: &wgpu::Buffer,
        tile: Params,
        consume: impl FnOnce(&[f32]),
    ) -> Result<(), BackendError> {
        let gpu = &self.gpu;
        gpu.queue.write_buffer(params, 0, bytemuck::bytes_of(&tile));
        let bytes = u64::from(tile.rows) * u64::from(tile.queries) * 4;
        let mut encoder = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
            pass.set_pipeline(gpu.pipeline(self.metric));
            pass.set_bind_group(0, bind_group, &[]);
            let (x, y) = workgroups(tile.rows as usize, tile.queries as usize);
            pass.dispatch_workgroups(x, y, 1);
        }
        encoder.copy_buffer_to_buffer(scores, 0, readback, 0, bytes);
        gpu.queue.submit([encoder.finish()]);

        let slice = readback.slice(0..bytes);
        let (sender, receiver) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |result| {
            // The receiver outlives the poll below; a failed send cannot happen.
            let _ = sender.send(result);
        });
        gpu.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| BackendError::Device(format!("waiting for the device: {e}")))?;
        receiver
            .recv()
            .map_err(|_| BackendError::Device("score readback was never signalled".into()))?
            .map_err(|e| BackendError::Device(format!("mapping scores for readback: {e}")))?;
        {
            let view = slice
                .get_mapped_range()
                .map_err(|e| BackendError::Device(format!("reading back scores: {e}")))?;
            consume(bytemuck::cast_slice::<u8, f32>(&view));
        }
        readback.unmap();
        Ok(())
    }
}

fn entry(binding: u32, buffer: &wgpu::Buffer) -> wgpu::BindGroupEntry<'_> {
    wgpu::BindGroupEntry {
        binding,
        resource: buffer.as_entire_binding(),
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
