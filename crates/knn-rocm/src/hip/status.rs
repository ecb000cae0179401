//! HIP and hiprtc status codes, named, and turned into [`BackendError`]s.
//!
//! The values are those of `hipError_t` in `hip_runtime_api.h` and `hiprtcResult` in `hiprtc.h`;
//! they are part of HIP's ABI and stable across releases.

use knn_core::BackendError;

/// A `hipError_t` other than `hipSuccess`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HipStatus(pub i32);

impl HipStatus {
    pub const SUCCESS: i32 = 0;
    pub const INVALID_VALUE: i32 = 1;
    pub const OUT_OF_MEMORY: i32 = 2;
    pub const NOT_INITIALIZED: i32 = 3;
    pub const INSUFFICIENT_DRIVER: i32 = 35;
    pub const NO_DEVICE: i32 = 100;
    pub const INVALID_DEVICE: i32 = 101;
    pub const INVALID_IMAGE: i32 = 200;
    pub const NO_BINARY_FOR_GPU: i32 = 209;
    pub const INVALID_KERNEL_FILE: i32 = 218;
    pub const NOT_FOUND: i32 = 500;
    pub const ILLEGAL_ADDRESS: i32 = 700;
    pub const LAUNCH_OUT_OF_RESOURCES: i32 = 701;
    pub const LAUNCH_FAILURE: i32 = 719;
    pub const NOT_SUPPORTED: i32 = 801;

    /// `Ok` for `hipSuccess`, the status otherwise.
    pub fn check(code: i32) -> Result<(), HipStatus> {
        if code == Self::SUCCESS {
            Ok(())
        } else {
            Err(HipStatus(code))
        }
    }

    /// The enumerator's name, so that a message is readable without calling into the runtime.
    pub fn name(self) -> &'static str {
        match self.0 {
            Self::INVALID_VALUE => "hipErrorInvalidValue",
            Self::OUT_OF_MEMORY => "hipErrorOutOfMemory",
            Self::NOT_INITIALIZED => "hipErrorNotInitialized",
            Self::INSUFFICIENT_DRIVER => "hipErrorInsufficientDriver",
            Self::NO_DEVICE => "hipErrorNoDevice",
            Self::INVALID_DEVICE => "hipErrorInvalidDevice",
            Self::INVALID_IMAGE => "hipErrorInvalidImage",
            Self::NO_BINARY_FOR_GPU => "hipErrorNoBinaryForGpu",
            Self::INVALID_KERNEL_FILE => "hipErrorInvalidKernelFile",
            Self::NOT_FOUND => "hipErrorNotFound",
            Self::ILLEGAL_ADDRESS => "hipErrorIllegalAddress",
            Self::LAUNCH_OUT_OF_RESOURCES => "hipErrorLaunchOutOfResources",
            Self::LAUNCH_FAILURE => "hipErrorLaunchFailure",
            Self::NOT_SUPPORTED => "hipErrorNotSupported",
            _ => "unnamed hipError_t",
        }
    }

    /// Whether the status means "no usable device here" rather than a failure of this program.
    pub fn means_unavailable(self) -> bool {
        matches!(
            self.0,
            Self::NO_DEVICE
                | Self::INVALID_DEVICE
                | Self::INSUFFICIENT_DRIVER
                | Self::NOT_INITIALIZED
        )
    }

    /// The error for a failure while `doing` something; `allocation` gives the sizes to report
    /// if the status is out-of-memory.
    pub fn to_backend_error(self, doing: &str, allocation: Option<(u64, u64)>) -> BackendError {
        match (self.0, allocation) {
            (Self::OUT_OF_MEMORY, Some((requested_bytes, available_bytes))) => {
                BackendError::OutOfMemory {
                    requested_bytes,
                    available_bytes,
                }
            }
            _ if self.means_unavailable() => BackendError::Unavailable {
                backend: "rocm".into(),
                reason: format!("{doing}: {} ({})", self.name(), self.0),
            },
            _ => BackendError::Device(format!(
                "HIP error while {doing}: {} ({})",
                self.name(),
                self.0
            )),
        }
    }
}

/// A `hiprtcResult` other than `HIPRTC_SUCCESS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HiprtcStatus(pub i32);

impl HiprtcStatus {
    pub fn check(code: i32) -> Result<(), HiprtcStatus> {
        if code == 0 {
            Ok(())
        } else {
            Err(HiprtcStatus(code))
        }
    }

    pub fn name(self) -> &'static str {
        match self.0 {
            1 => "HIPRTC_ERROR_OUT_OF_MEMORY",
            2 => "HIPRTC_ERROR_PROGRAM_CREATION_FAILURE",
            3 => "HIPRTC_ERROR_INVALID_INPUT",
            4 => "HIPRTC_ERROR_INVALID_PROGRAM",
            5 => "HIPRTC_ERROR_INVALID_OPTION",
            6 => "HIPRTC_ERROR_COMPILATION",
            7 => "HIPRTC_ERROR_BUILTIN_OPERATION_FAILURE",
            11 => "HIPRTC_ERROR_INTERNAL_ERROR",
            100 => "HIPRTC_ERROR_LINKING",
            _ => "unnamed hiprtcResult",
        }
    }

    pub fn to_backend_error(self, doing: &str, log: &str) -> BackendError {
        let log = log.trim();
        let log = if log.is_empty() {
            String::new()
        } else {
            format!("\n{log}")
        };
        BackendError::Device(format!(
            "hiprtc error while {doing}: {} ({}){log}",
            self.name(),
            self.0
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_is_ok_and_anything_else_an_error() {
        assert_eq!(HipStatus::check(0), Ok(()));
        assert_eq!(HipStatus::check(2), Err(HipStatus(2)));
        assert_eq!(HiprtcStatus::check(0), Ok(()));
        assert_eq!(HiprtcStatus::check(6), Err(HiprtcStatus(6)));
    }

    #[test]
    fn out_of_memory_during_an_allocation_carries_the_sizes() {
        match HipStatus(2).to_backend_error("allocating", Some((1 << 30, 1 << 20))) {
            BackendError::OutOfMemory {
                requested_bytes,
                available_bytes,
            } => assert_eq!((requested_bytes, available_bytes), (1 << 30, 1 << 20)),
            other => panic!("unexpected {other:?}"),
        }
        // Out of memory where no allocation was made (e.g. a launch) is a device error.
        let text = HipStatus(2).to_backend_error("launching", None).to_string();
        assert!(text.contains("hipErrorOutOfMemory (2)"), "{text}");
    }

    #[test]
    fn missing_devices_and_drivers_are_unavailable_not_failures() {
        for code in [100, 101, 35, 3] {
            match HipStatus(code).to_backend_error("counting devices", None) {
                BackendError::Unavailable { backend, reason } => {
                    assert_eq!(backend, "rocm");
                    assert!(reason.contains(&format!("({code})")), "{reason}");
                }
                other => panic!("{code}: unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn device_failures_are_named_and_unknown_codes_keep_their_number() {
        let text = HipStatus(719)
            .to_backend_error("launching", None)
            .to_string();
        assert!(text.contains("hipErrorLaunchFailure (719)") && text.contains("launching"));
        let text = HipStatus(12345)
            .to_backend_error("copying", None)
            .to_string();
        assert!(text.contains("unnamed hipError_t (12345)"), "{text}");
    }

    #[test]
    fn compiler_errors_include_the_log() {
        let text = HiprtcStatus(6)
            .to_backend_error("compiling", "  knn.hip:3: error: expected ';'  \n")
            .to_string();
        assert!(text.contains("HIPRTC_ERROR_COMPILATION (6)"), "{text}");
        assert!(text.ends_with("\nknn.hip:3: error: expected ';'"), "{text}");
    }
}
