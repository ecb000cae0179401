//! Vectors, metrics, top-k selection and the backend trait.
//!
//! Every backend (the CPU one here, the GPU ones in their own crates) implements [`Backend`] and
//! must return the same hits as [`reference::search`], compared with [`testing::assert_same_hits`].
//!
//! Ordering contract, shared by all backends: best hit first; for [`Metric::Cosine`] and
//! [`Metric::Dot`] a higher score is better, for [`Metric::L2`] (squared Euclidean distance) a
//! lower score is better; equal scores are broken by the lower row index. Scores of inputs within
//! [`Metric::max_norm`] are finite in every backend (see [`MAX_NORM`]); should a NaN score arise
//! anyway, it ranks after every number, so the order stays total and a NaN is never first.

mod backend;
pub mod cpu;
mod matrix;
mod metric;
mod norm;
mod topk;

pub mod reference;
pub mod testing;

pub use backend::{Backend, BackendError, DeviceInfo, Prepared, check_query_dim};
pub use cpu::CpuBackend;
pub use matrix::{MAX_DIM, Matrix, MatrixError};
pub use metric::{Hit, Metric};
pub use norm::{MAX_NORM, norm};
pub use topk::TopK;
