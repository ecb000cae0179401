//! knn-gpu's device operations over cudarc: every search step of [`knn_gpu::GpuCollection`] on
//! this device's stream.

use cudarc::driver::{CudaSlice, DeviceRepr, LaunchConfig, PushKernelArg, ValidAsZeroBits};
use knn_core::BackendError;
use knn_gpu::kernel;
use knn_gpu::{CompactLaunch, ScoreLaunch, SearchDevice, SegmentLaunch};

use crate::device::Device;
use crate::errors;

impl Device {
    fn alloc<T: DeviceRepr + ValidAsZeroBits>(
        &self,
        len: usize,
    ) -> Result<CudaSlice<T>, BackendError> {
        let free = self.free_bytes()?;
        self.stream
            .alloc_zeros::<T>(len.max(1))
            .map_err(|e| errors::allocation(e, (len * size_of::<T>()) as u64, free))
    }
}

impl SearchDevice for Device {
    type Floats = CudaSlice<f32>;
    type Indices = CudaSlice<u32>;

    fn alloc_floats(&self, len: usize) -> Result<Self::Floats, BackendError> {
        self.alloc(len)
    }

    fn alloc_indices(&self, len: usize) -> Result<Self::Indices, BackendError> {
        self.alloc(len)
    }

    fn upload(&self, to: &mut Self::Floats, values: &[f32]) -> Result<(), BackendError> {
        self.stream
            .memcpy_htod(values, to)
            .map_err(|e| errors::driver(e, "copying to the device"))
    }

    fn clear(&self, to: &mut Self::Indices, len: usize) -> Result<(), BackendError> {
        self.stream
            .memset_zeros(&mut to.slice_mut(0..len))
            .map_err(|e| errors::driver(e, "clearing device memory"))
    }

    fn download_floats(
        &self,
        from: &Self::Floats,
        first: usize,
        out: &mut [f32],
    ) -> Result<(), BackendError> {
        self.stream
            .memcpy_dtoh(&from.slice(first..first + out.len()), out)
            .map_err(|e| errors::driver(e, "copying from the device"))
    }

    fn download_indices(&self, from: &Self::Indices, out: &mut [u32]) -> Result<(), BackendError> {
        self.stream
            .memcpy_dtoh(&from.slice(0..out.len()), out)
            .map_err(|e| errors::driver(e, "copying from the device"))
    }

    fn score(
        &self,
        launch: &ScoreLaunch,
        vectors: &Self::Floats,
        queries: &Self::Floats,
        scores: &mut Self::Floats,
    ) -> Result<(), BackendError> {
        let (dim, row_offset) = (launch.dim as u32, launch.row_offset as u64);
        let (rows, query_count) = (launch.rows as u32, launch.queries as u32);
        let mut builder = self.stream.launch_builder(self.function(launch.metric));
        builder
            .arg(vectors)
            .arg(queries)
            .arg(scores)
            .arg(&dim)
            .arg(&row_offset)
            .arg(&rows)
            .arg(&query_count);
        let config = LaunchConfig {
            grid_dim: kernel::grid(launch.rows, launch.queries),
            block_dim: (kernel::BLOCK_SIZE, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: the arguments match the scoring kernels' signature in knn-gpu's kernel.rs
        // (three pointers, u32, u64, u32, u32), and the grid never indexes past the buffers:
        // rows and queries are bounded by the plans that sized them.
        unsafe { builder.launch(config) }
            .map(drop)
            .map_err(|e| errors::driver(e, "launching the scoring kernel"))
    }

    fn segment_best(
        &self,
        launch: &SegmentLaunch,
        scores: &Self::Floats,
        best: &mut Self::Floats,
    ) -> Result<(), BackendError> {
        let (rows, segment_rows) = (launch.rows as u32, launch.segment_rows as u32);
        let segments = launch.segments as u32;
        let mut builder = self.stream.launch_builder(&self.segment_best);
        builder
            .arg(scores)
            .arg(best)
            .arg(&rows)
            .arg(&segment_rows)
            .arg(&segments)
            .arg(&launch.sign);
        let config = LaunchConfig {
            grid_dim: kernel::segment_grid(launch.segments, launch.queries),
            block_dim: (kernel::SELECT_BLOCK_SIZE, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: matches `segment_best` (two pointers, u32, u32, u32, f32); one block per
        // segment and query, and `best` holds `segments` keys for each query of the batch.
        unsafe { builder.launch(config) }
            .map(drop)
            .map_err(|e| errors::driver(e, "launching the segment kernel"))
    }

    fn compact_candidates(
        &self,
        launch: &CompactLaunch,
        scores: &Self::Floats,
        thresholds: &Self::Floats,
        counts: &mut Self::Indices,
        candidate_rows: &mut Self::Indices,
        candidate_scores: &mut Self::Floats,
    ) -> Result<(), BackendError> {
        let (rows, capacity) = (launch.rows as u32, launch.capacity as u32);
        let mut builder = self.stream.launch_builder(&self.compact_candidates);
        builder
            .arg(scores)
            .arg(thresholds)
            .arg(counts)
            .arg(candidate_rows)
            .arg(candidate_scores)
            .arg(&rows)
            .arg(&capacity)
            .arg(&launch.sign);
        let config = LaunchConfig {
            grid_dim: kernel::compact_grid(launch.rows, launch.queries),
            block_dim: (kernel::SELECT_BLOCK_SIZE, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: matches `compact_candidates` (five pointers, u32, u32, f32); a thread per row
        // and query, and candidate slots past `capacity` are never written.
        unsafe { builder.launch(config) }
            .map(drop)
            .map_err(|e| errors::driver(e, "launching the candidate kernel"))
    }
}
