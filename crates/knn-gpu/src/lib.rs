//! What the CUDA (knn-cuda) and HIP (knn-rocm) backends share, so that one kernel and one plan
//! serve both: the C++ source of the scoring and selection kernels, which NVRTC and hiprtc both
//! compile, their launch geometry, how a collection is chunked and a search tiled within a
//! device memory budget, and the host half of the exact top-k selection. Nothing here touches a
//! device; each backend runs these plans through its own driver bindings.

pub mod kernel;
pub mod plan;
pub mod selection;
