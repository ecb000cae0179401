//! Opening the CUDA device: the driver and NVRTC are loaded at run time, so their absence is a
//! [`BackendError::Unavailable`] with the reason, never a panic.

use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaFunction, CudaStream};
use cudarc::nvrtc::{CompileOptions, compile_ptx_with_opts};
use knn_core::{BackendError, DeviceInfo, Metric};

use crate::errors;
use knn_gpu::kernel;

pub(crate) struct Device {
    pub context: Arc<CudaContext>,
    pub stream: Arc<CudaStream>,
    pub info: DeviceInfo,
    dot: CudaFunction,
    l2: CudaFunction,
    pub segment_best: CudaFunction,
    pub compact_candidates: CudaFunction,
}

fn unavailable(reason: String) -> BackendError {
    BackendError::Unavailable {
        backend: "cuda".into(),
        reason,
    }
}

/// Why CUDA cannot be used here, checked without touching the libraries' functions: cudarc
/// panics on the first call into a library it cannot load.
pub fn missing_library() -> Option<String> {
    // SAFETY: both only try to dlopen the library and report whether that worked.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return Some("no CUDA driver: libcuda.so not loadable".into());
    }
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        return Some(
            "no NVRTC: libnvrtc.so not loadable (install the CUDA runtime compiler)".into(),
        );
    }
    None
}

impl Device {
    pub fn open(ordinal: usize) -> Result<Self, BackendError> {
        if let Some(reason) = missing_library() {
            return Err(unavailable(reason));
        }
        let count = CudaContext::device_count()
            .map_err(|e| unavailable(format!("the CUDA driver found no device ({:?})", e.0)))?;
        if count <= 0 {
            return Err(unavailable("the CUDA driver found no device".into()));
        }
        let context = CudaContext::new(ordinal)
            .map_err(|e| unavailable(format!("cannot open CUDA device {ordinal} ({:?})", e.0)))?;
        let name = context
            .name()
            .map_err(|e| errors::driver(e, "reading the device name"))?;
        let (major, minor) = context
            .compute_capability()
            .map_err(|e| errors::driver(e, "reading the compute capability"))?;
        let total = context
            .total_mem()
            .map_err(|e| errors::driver(e, "reading the memory size"))?;

        let ptx = compile_ptx_with_opts(
            kernel::source(),
            CompileOptions {
                name: Some("knn_scores.cu".into()),
                ..Default::default()
            },
        )
        .map_err(|e| BackendError::Device(format!("NVRTC could not compile the kernels: {e}")))?;
        let module = context
            .load_module(ptx)
            .map_err(|e| errors::driver(e, "loading the kernels"))?;
        let function = |name: &str| {
            module
                .load_function(name)
                .map_err(|e| errors::driver(e, "finding a kernel"))
        };
        let dot = function(kernel::entry_point(Metric::Dot))?;
        let l2 = function(kernel::entry_point(Metric::L2))?;
        let segment_best = function(kernel::SEGMENT_BEST)?;
        let compact_candidates = function(kernel::COMPACT_CANDIDATES)?;
        let stream = context.default_stream();
        Ok(Self {
            info: DeviceInfo {
                backend: "cuda".into(),
                device: format!(
                    "{name} (compute capability {major}.{minor}, {} MiB)",
                    total >> 20
                ),
            },
            context,
            stream,
            dot,
            l2,
            segment_best,
            compact_candidates,
        })
    }

    pub fn function(&self, metric: Metric) -> &CudaFunction {
        match metric {
            Metric::Cosine | Metric::Dot => &self.dot,
            Metric::L2 => &self.l2,
        }
    }

    /// Free device memory in bytes, as the driver reports it now.
    pub fn free_bytes(&self) -> Result<u64, BackendError> {
        let (free, _total) = self
            .context
            .mem_get_info()
            .map_err(|e| errors::driver(e, "querying free memory"))?;
        Ok(free as u64)
    }
}
