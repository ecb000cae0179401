use std::collections::BTreeMap;

use thiserror::Error;

use crate::matrix::Matrix;
use crate::metric::{Hit, Metric};

/// Which backend runs and on what device, as reported by `/info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// One of `"cpu"`, `"vulkan"`, `"cuda"`, `"rocm"`.
    pub backend: String,
    /// A human-readable device name, e.g. a GPU model or the CPU thread count.
    pub device: String,
    /// Facts an operator checks when the service runs slower or elsewhere than expected, keyed
    /// by a stable `snake_case` name: e.g. the Vulkan adapter's device type and driver, or the
    /// CUDA driver and NVRTC versions. Which keys exist depends on the backend.
    pub details: BTreeMap<String, String>,
}

/// Failures of a backend. The variants are general enough for devices that may be missing, run
/// out of memory or fail at run time.
#[derive(Debug, Error)]
pub enum BackendError {
    /// The backend cannot run here: driver or runtime library missing, no device found.
    #[error("backend {backend} is unavailable: {reason}")]
    Unavailable { backend: String, reason: String },
    #[error("out of device memory: {requested_bytes} bytes requested, {available_bytes} available")]
    OutOfMemory {
        requested_bytes: u64,
        available_bytes: u64,
    },
    /// Any other device or driver failure, with the driver's message.
    #[error("device error: {0}")]
    Device(String),
    /// The caller broke the contract (e.g. queries of another dimension than the collection).
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

/// A compute backend: turns a collection into a searchable, device-resident form.
pub trait Backend: Send + Sync {
    fn info(&self) -> DeviceInfo;

    /// Copies `vectors` to wherever the backend searches them. For [`Metric::Cosine`] the caller
    /// has already normalised the rows ([`Metric::prepare`]), so cosine is computed as a dot
    /// product. Row `i` of `vectors` is reported as `Hit::row == i`.
    fn upload(&self, vectors: &Matrix, metric: Metric) -> Result<Box<dyn Prepared>, BackendError>;
}

/// A collection uploaded to a backend; immutable, searched concurrently.
pub trait Prepared: Send + Sync {
    fn rows(&self) -> usize;

    /// For every query row, the `min(k, rows())` best hits in the contract order: best first,
    /// ties broken by the lower row (see [`Metric::compare_hits`]). Queries have the collection's
    /// dimension (else [`BackendError::InvalidInput`]) and, for cosine, are normalised by the
    /// caller. `k == 0` yields empty lists.
    fn search(&self, queries: &Matrix, k: usize) -> Result<Vec<Vec<Hit>>, BackendError>;
}

/// The check every [`Prepared::search`] starts with.
pub fn check_query_dim(collection_dim: usize, queries: &Matrix) -> Result<(), BackendError> {
    if queries.dim() == collection_dim {
        Ok(())
    } else {
        Err(BackendError::InvalidInput(format!(
            "queries have dimension {}, the collection has {collection_dim}",
            queries.dim()
        )))
    }
}
