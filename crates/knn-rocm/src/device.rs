//! Opening the AMD GPU: the HIP runtime and hiprtc are loaded at run time, so their absence is
//! a [`BackendError::Unavailable`] with the reason.

use std::sync::Arc;

use knn_core::{BackendError, DeviceInfo, Metric};

use crate::hip::compiler;
use crate::hip::library::{HipLibrary, HiprtcLibrary};
use crate::hip::runtime::{Function, Hip};
use knn_gpu::kernel;

/// What `/info` and the README say about this backend.
pub const UNTESTED_NOTE: &str = "untested on AMD hardware";

pub(crate) struct Device {
    pub hip: Arc<Hip>,
    pub info: DeviceInfo,
    dot: Function,
    l2: Function,
    pub segment_best: Function,
    pub compact_candidates: Function,
}

/// Why ROCm cannot be used here, if a library is missing.
pub fn missing_library() -> Option<String> {
    HipLibrary::load()
        .err()
        .or_else(|| HiprtcLibrary::load().err())
}

impl Device {
    pub fn open(ordinal: i32) -> Result<Self, BackendError> {
        let hip = Hip::open(ordinal)?;
        let hiprtc = HiprtcLibrary::load().map_err(|reason| BackendError::Unavailable {
            backend: "rocm".into(),
            reason,
        })?;
        let name = hip.name()?;
        let total = hip.total_memory()?;
        let arch = hip.arch()?;
        let code = compiler::compile(
            &hiprtc,
            &kernel::source(),
            "knn_scores.hip",
            &compiler::options(arch.as_deref()),
        )?;
        let module = hip.load_module(&code)?;
        let dot = hip.function(&module, kernel::entry_point(Metric::Dot))?;
        let l2 = hip.function(&module, kernel::entry_point(Metric::L2))?;
        let segment_best = hip.function(&module, kernel::SEGMENT_BEST)?;
        let compact_candidates = hip.function(&module, kernel::COMPACT_CANDIDATES)?;
        Ok(Self {
            info: DeviceInfo {
                backend: "rocm".into(),
                device: format!(
                    "{name} ({}, {} MiB; {UNTESTED_NOTE})",
                    arch.as_deref().unwrap_or("unknown arch"),
                    total >> 20
                ),
                details: arch
                    .iter()
                    .map(|arch| ("arch".to_owned(), arch.clone()))
                    .collect(),
            },
            hip,
            dot,
            l2,
            segment_best,
            compact_candidates,
        })
    }

    pub fn function(&self, metric: Metric) -> &Function {
        match metric {
            Metric::Cosine | Metric::Dot => &self.dot,
            Metric::L2 => &self.l2,
        }
    }
}
