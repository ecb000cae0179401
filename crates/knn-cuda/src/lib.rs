//! Exact k-nearest-neighbour search on an NVIDIA GPU.
//!
//! cudarc loads `libcuda.so` and `libnvrtc.so` at run time, so this crate builds without the
//! CUDA toolkit and a machine without a driver gets [`BackendError::Unavailable`] with the reason.
//! The scoring kernels (dot product for cosine and dot, squared Euclidean distance for l2) are
//! CUDA C compiled by NVRTC when the backend starts, to a cubin for the device's compute
//! capability, which loads on drivers older than NVRTC, or to PTX where NVRTC cannot make one
//! (`target.rs`); `/info` reports the driver's and NVRTC's CUDA versions. The top-k is selected in two halves: on the
//! device, a threshold per query (from the best score of each segment of rows) cuts a tile's
//! scores down to a short candidate list; on the host, [`knn_core::TopK`] picks the exact top-k
//! from the candidates in knn-core's order. The kernels, the plans and the search loop are
//! knn-gpu's, shared with the ROCm backend; this crate supplies the device operations over
//! cudarc. Collections are chunked by [`CudaOptions::max_chunk_bytes`] and by the free device
//! memory; one larger than the budget stays on the host and is streamed chunk by chunk.

mod compile;
mod device;
mod errors;
mod operations;
mod target;

use std::sync::Arc;

use knn_core::{Backend, BackendError, DeviceInfo, Matrix, Metric, Prepared};
use knn_gpu::GpuCollection;

pub use device::missing_library;
/// The size limits of this backend: knn-gpu's, shared with the other GPU backend.
pub use knn_gpu::GpuOptions as CudaOptions;

use crate::device::Device;

pub struct CudaBackend {
    device: Arc<Device>,
    options: CudaOptions,
}

impl CudaBackend {
    /// Opens CUDA device 0 with the default options.
    pub fn new() -> Result<Self, BackendError> {
        Self::with_options(CudaOptions::default())
    }

    pub fn with_options(options: CudaOptions) -> Result<Self, BackendError> {
        Ok(Self {
            device: Arc::new(Device::open(0)?),
            options,
        })
    }

    /// The same device with other size options (opening a device compiles the kernels).
    pub fn with_same_device(&self, options: CudaOptions) -> Self {
        Self {
            device: Arc::clone(&self.device),
            options,
        }
    }
}

impl Backend for CudaBackend {
    fn info(&self) -> DeviceInfo {
        self.device.info.clone()
    }

    fn upload(&self, vectors: &Matrix, metric: Metric) -> Result<Box<dyn Prepared>, BackendError> {
        let budget_bytes = match self.options.memory_budget_bytes {
            Some(bytes) => bytes,
            None => (self.device.free_bytes()? as f64 * CudaOptions::FREE_MEMORY_SHARE) as u64,
        };
        let sizes = self.options.sizes(budget_bytes);
        let collection = GpuCollection::upload(Arc::clone(&self.device), vectors, metric, sizes)?;
        Ok(Box::new(collection))
    }
}
