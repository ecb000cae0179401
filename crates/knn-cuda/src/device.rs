//! Opening the CUDA device: the driver and NVRTC are loaded at run time, so their absence is a
//! [`BackendError::Unavailable`] with the reason, never a panic.

use std::collections::BTreeMap;
use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaFunction, CudaStream};
use knn_core::{BackendError, DeviceInfo, Metric};

use crate::target::{self, CudaVersion, Failure, KernelCode};
use crate::{compile, errors};
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

        let driver = compile::driver_version().map_err(unavailable)?;
        let nvrtc = compile::nvrtc_version().map_err(unavailable)?;
        let supported = compile::supported_archs().map_err(unavailable)?;
        let device_arch = target::arch_number(major, minor)
            .ok_or_else(|| unavailable(format!("unexpected compute capability {major}.{minor}")))?;
        let source = kernel::source();
        let mut attempts = Vec::new();
        let mut loaded = None;
        for code in target::candidates(device_arch, &supported) {
            let module = compile::compile(&source, "knn_scores.cu", code)
                .map_err(Failure::Compile)
                .and_then(|image| {
                    context
                        .load_module(image)
                        .map_err(|e| Failure::Load(format!("{:?}", e.0)))
                });
            match module {
                Ok(module) => {
                    loaded = Some((code, module));
                    break;
                }
                Err(error) => attempts.push((code, error)),
            }
        }
        let Some((code, module)) = loaded else {
            return Err(unavailable(target::no_loadable_code(
                &name,
                device_arch,
                driver,
                nvrtc,
                &supported,
                &attempts,
            )));
        };
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
                details: details(major, minor, driver, nvrtc, code, &attempts),
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

/// What `/info` reports: the versions that decide whether the kernels load, and which code did.
fn details(
    major: i32,
    minor: i32,
    driver: CudaVersion,
    nvrtc: CudaVersion,
    code: KernelCode,
    failed: &[(KernelCode, Failure)],
) -> BTreeMap<String, String> {
    let mut details: BTreeMap<String, String> = [
        ("compute_capability", format!("{major}.{minor}")),
        ("driver_cuda_version", driver.to_string()),
        ("nvrtc_version", nvrtc.to_string()),
        ("kernel_code", code.to_string()),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value))
    .collect();
    if !failed.is_empty() {
        let failures = failed
            .iter()
            .map(|(code, error)| format!("{code}: {error}"))
            .collect::<Vec<_>>()
            .join("; ");
        details.insert("kernel_code_fallback_reason".to_owned(), failures);
    }
    details
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_name_the_versions_the_code_and_why_a_better_code_failed() {
        let driver = CudaVersion {
            major: 12,
            minor: 2,
        };
        let nvrtc = CudaVersion {
            major: 12,
            minor: 9,
        };
        let cubin = KernelCode::Cubin { arch: 90 };
        let details = details(9, 0, driver, nvrtc, cubin, &[]);
        assert_eq!(details["compute_capability"], "9.0");
        assert_eq!(details["driver_cuda_version"], "12.2");
        assert_eq!(details["nvrtc_version"], "12.9");
        assert_eq!(details["kernel_code"], "sm_90 cubin");
        assert!(!details.contains_key("kernel_code_fallback_reason"));

        let failed = [(cubin, Failure::Load("CUDA_ERROR_INVALID_IMAGE".to_owned()))];
        let ptx = KernelCode::Ptx { arch: 90 };
        let details = super::details(9, 0, driver, nvrtc, ptx, &failed);
        assert_eq!(details["kernel_code"], "compute_90 PTX");
        assert_eq!(
            details["kernel_code_fallback_reason"],
            "sm_90 cubin: the driver did not load it: CUDA_ERROR_INVALID_IMAGE"
        );
    }
}
