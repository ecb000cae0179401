//! knn-gpu's device operations over our HIP layer: every search step of
//! [`knn_gpu::GpuCollection`] on the default stream.

use knn_core::BackendError;
use knn_gpu::kernel;
use knn_gpu::{CompactLaunch, ScoreLaunch, SearchDevice, SegmentLaunch};

use crate::device::Device;
use crate::hip::args::{Arg, PackedArgs};
use crate::hip::runtime::DeviceBuffer;

const VALUE_BYTES: usize = 4;

impl SearchDevice for Device {
    type Floats = DeviceBuffer;
    type Indices = DeviceBuffer;

    fn alloc_floats(&self, len: usize) -> Result<Self::Floats, BackendError> {
        self.hip.alloc(len * VALUE_BYTES)
    }

    fn alloc_indices(&self, len: usize) -> Result<Self::Indices, BackendError> {
        self.hip.alloc(len * VALUE_BYTES)
    }

    fn upload(&self, to: &mut Self::Floats, values: &[f32]) -> Result<(), BackendError> {
        self.hip.upload(to, values)
    }

    fn clear(&self, to: &mut Self::Indices, len: usize) -> Result<(), BackendError> {
        self.hip.upload(to, &vec![0u32; len])
    }

    fn download_floats(
        &self,
        from: &Self::Floats,
        first: usize,
        out: &mut [f32],
    ) -> Result<(), BackendError> {
        self.hip.download(from, first, out)
    }

    fn download_indices(&self, from: &Self::Indices, out: &mut [u32]) -> Result<(), BackendError> {
        self.hip.download(from, 0, out)
    }

    fn score(
        &self,
        launch: &ScoreLaunch,
        vectors: &Self::Floats,
        queries: &Self::Floats,
        scores: &mut Self::Floats,
    ) -> Result<(), BackendError> {
        // The scoring kernels' parameter list, in order (knn-gpu's kernel.rs).
        let args = PackedArgs::pack(&[
            Arg::Pointer(vectors.device_pointer()),
            Arg::Pointer(queries.device_pointer()),
            Arg::Pointer(scores.device_pointer()),
            Arg::U32(launch.dim as u32),
            Arg::U64(launch.row_offset as u64),
            Arg::U32(launch.rows as u32),
            Arg::U32(launch.queries as u32),
        ]);
        self.hip.launch(
            self.function(launch.metric),
            kernel::grid(launch.rows, launch.queries),
            (kernel::BLOCK_SIZE, 1, 1),
            &args,
        )
    }

    fn segment_best(
        &self,
        launch: &SegmentLaunch,
        scores: &Self::Floats,
        best: &mut Self::Floats,
    ) -> Result<(), BackendError> {
        // `segment_best`'s parameter list, in order (knn-gpu's kernel.rs).
        let args = PackedArgs::pack(&[
            Arg::Pointer(scores.device_pointer()),
            Arg::Pointer(best.device_pointer()),
            Arg::U32(launch.rows as u32),
            Arg::U32(launch.segment_rows as u32),
            Arg::U32(launch.segments as u32),
            Arg::F32(launch.sign),
        ]);
        self.hip.launch(
            &self.segment_best,
            kernel::segment_grid(launch.segments, launch.queries),
            (kernel::SELECT_BLOCK_SIZE, 1, 1),
            &args,
        )
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
        // `compact_candidates`'s parameter list, in order (knn-gpu's kernel.rs).
        let args = PackedArgs::pack(&[
            Arg::Pointer(scores.device_pointer()),
            Arg::Pointer(thresholds.device_pointer()),
            Arg::Pointer(counts.device_pointer()),
            Arg::Pointer(candidate_rows.device_pointer()),
            Arg::Pointer(candidate_scores.device_pointer()),
            Arg::U32(launch.rows as u32),
            Arg::U32(launch.capacity as u32),
            Arg::F32(launch.sign),
        ]);
        self.hip.launch(
            &self.compact_candidates,
            kernel::compact_grid(launch.rows, launch.queries),
            (kernel::SELECT_BLOCK_SIZE, 1, 1),
            &args,
        )
    }
}
