//! CUDA driver and NVRTC failures as [`BackendError`]s.

use cudarc::driver::DriverError;
use cudarc::driver::sys::CUresult;
use knn_core::BackendError;

/// Maps a driver failure during an allocation of `requested_bytes`; `available_bytes` is the
/// free device memory the driver reported before it.
pub(crate) fn allocation(
    error: DriverError,
    requested_bytes: u64,
    available_bytes: u64,
) -> BackendError {
    match error.0 {
        CUresult::CUDA_ERROR_OUT_OF_MEMORY => BackendError::OutOfMemory {
            requested_bytes,
            available_bytes,
        },
        _ => driver(error, "allocating device memory"),
    }
}

/// Any other driver failure, named by its `CUresult` (the driver's own message would need a
/// call into the driver, which may be the thing that failed).
pub(crate) fn driver(error: DriverError, doing: &str) -> BackendError {
    BackendError::Device(format!("CUDA driver error while {doing}: {:?}", error.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_memory_keeps_the_sizes_and_other_codes_are_named() {
        match allocation(DriverError(CUresult::CUDA_ERROR_OUT_OF_MEMORY), 300, 200) {
            BackendError::OutOfMemory {
                requested_bytes: 300,
                available_bytes: 200,
            } => {}
            other => panic!("unexpected {other:?}"),
        }
        let text = allocation(DriverError(CUresult::CUDA_ERROR_INVALID_VALUE), 1, 1).to_string();
        assert!(
            text.contains("CUDA_ERROR_INVALID_VALUE") && text.contains("allocating"),
            "{text}"
        );
        let text = driver(DriverError(CUresult::CUDA_ERROR_LAUNCH_FAILED), "launching").to_string();
        assert!(
            text.contains("CUDA_ERROR_LAUNCH_FAILED") && text.contains("launching"),
            "{text}"
        );
    }
}
