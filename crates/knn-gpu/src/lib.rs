//! What the CUDA (knn-cuda) and HIP (knn-rocm) backends share, so that one kernel and one plan
//! serve both: the C++ source of the scoring and selection kernels, which NVRTC and hiprtc both
//! compile, their launch geometry, how a collection is chunked and a search tiled within a
//! device memory budget, the host half of the exact top-k selection, and the search itself over
//! a [`SearchDevice`]: the few operations each backend implements with its own driver bindings.

pub mod collection;
pub mod device;
pub mod kernel;
pub mod options;
pub mod plan;
pub mod selection;

pub use collection::GpuCollection;
pub use device::{CompactLaunch, ScoreLaunch, SearchDevice, SegmentLaunch};
pub use options::GpuOptions;
