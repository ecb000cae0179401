//! Exact k-nearest-neighbour search on an AMD GPU through HIP. **Untested on AMD hardware**: no
//! AMD GPU was available while it was written, so only its host side (kernel source generation,
//! argument packing, status-code mapping, library loading; knn-gpu's plans) is tested; the device
//! tests skip with the reason wherever ROCm is missing. `/info` says so in the device string.
//!
//! The HIP runtime (`libamdhip64.so`) and hiprtc (`libhiprtc.so`) are opened at run time by a
//! small FFI layer of our own (the private `hip` module), so the crate builds without ROCm.
//! The kernels are the CUDA backend's, from knn-gpu: a dot product for cosine and dot (cosine
//! vectors arrive normalised), the squared Euclidean distance for l2, and the selection kernels
//! that cut each tile down to top-k candidates, compiled by hiprtc for the device's `gfx`
//! architecture; [`knn_core::TopK`] picks the exact top-k from the candidates on the host. The
//! plans and the search loop are knn-gpu's too; this crate supplies the device operations.
//! Collections are chunked by [`RocmOptions::max_chunk_bytes`] and the free device memory; one
//! larger than the budget stays on the host and is streamed chunk by chunk.

mod device;
mod hip;
mod operations;

use std::sync::Arc;

use knn_core::{Backend, BackendError, DeviceInfo, Matrix, Metric, Prepared};
use knn_gpu::GpuCollection;

pub use device::{UNTESTED_NOTE, missing_library};
/// The size limits of this backend: knn-gpu's, shared with the other GPU backend.
pub use knn_gpu::GpuOptions as RocmOptions;

use crate::device::Device;

pub struct RocmBackend {
    device: Arc<Device>,
    options: RocmOptions,
}

impl RocmBackend {
    /// Opens HIP device 0 with the default options.
    pub fn new() -> Result<Self, BackendError> {
        Self::with_options(RocmOptions::default())
    }

    pub fn with_options(options: RocmOptions) -> Result<Self, BackendError> {
        Ok(Self {
            device: Arc::new(Device::open(0)?),
            options,
        })
    }

    /// The same device with other size options (opening a device compiles the kernels).
    pub fn with_same_device(&self, options: RocmOptions) -> Self {
        Self {
            device: Arc::clone(&self.device),
            options,
        }
    }
}

impl Backend for RocmBackend {
    fn info(&self) -> DeviceInfo {
        self.device.info.clone()
    }

    fn upload(&self, vectors: &Matrix, metric: Metric) -> Result<Box<dyn Prepared>, BackendError> {
        let budget_bytes = match self.options.memory_budget_bytes {
            Some(bytes) => bytes,
            None => (self.device.hip.free_memory()? as f64 * RocmOptions::FREE_MEMORY_SHARE) as u64,
        };
        let sizes = self.options.sizes(budget_bytes);
        let collection = GpuCollection::upload(Arc::clone(&self.device), vectors, metric, sizes)?;
        Ok(Box::new(collection))
    }
}
