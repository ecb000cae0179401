//! What NVRTC compiles the kernels to. PTX of NVRTC's own version is rejected by a driver older
//! than NVRTC (`CUDA_ERROR_UNSUPPORTED_PTX_VERSION`), while a cubin (machine code for one
//! compute capability) loads on any driver of NVRTC's major version (CUDA minor version
//! compatibility). So the device's cubin comes first and PTX, which the driver compiles itself
//! and which also runs on devices newer than NVRTC knows, is the fallback.

use std::fmt;

/// A CUDA version as the driver API or NVRTC reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CudaVersion {
    pub major: u32,
    pub minor: u32,
}

impl CudaVersion {
    /// From `cuDriverGetVersion`'s encoding, `1000 * major + 10 * minor` (12040 is 12.4): the
    /// newest CUDA the installed driver supports.
    pub fn from_driver_code(code: i32) -> Option<Self> {
        let code = u32::try_from(code).ok().filter(|&code| code > 0)?;
        Some(Self {
            major: code / 1000,
            minor: code % 1000 / 10,
        })
    }
}

impl fmt::Display for CudaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// A device's compute capability, as NVRTC numbers its targets: 8.9 is 89, 12.0 is 120.
pub fn arch_number(major: i32, minor: i32) -> Option<u32> {
    let major = u32::try_from(major).ok()?;
    let minor = u32::try_from(minor).ok().filter(|&minor| minor < 10)?;
    major.checked_mul(10)?.checked_add(minor)
}

/// Code NVRTC emits for one architecture number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelCode {
    /// Machine code for exactly this compute capability (`sm_XY`).
    Cubin { arch: u32 },
    /// PTX for this compute capability and above (`compute_XY`), compiled by the driver on load.
    Ptx { arch: u32 },
}

impl KernelCode {
    /// The NVRTC option that selects this code.
    pub fn option(self) -> String {
        match self {
            KernelCode::Cubin { arch } => format!("--gpu-architecture=sm_{arch}"),
            KernelCode::Ptx { arch } => format!("--gpu-architecture=compute_{arch}"),
        }
    }
}

impl fmt::Display for KernelCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelCode::Cubin { arch } => write!(f, "sm_{arch} cubin"),
            KernelCode::Ptx { arch } => write!(f, "compute_{arch} PTX"),
        }
    }
}

/// The codes to try for a device of architecture `device_arch`, best first, given the
/// architectures this NVRTC can target (`nvrtcGetSupportedArchs`):
/// - the device's own cubin, when NVRTC knows the device: it needs no driver newer than NVRTC;
/// - then PTX for the newest architecture NVRTC knows that the device can run: the device's own
///   (for a driver that cannot load the cubin), or an older one for a device newer than NVRTC.
///
/// Empty when NVRTC knows no architecture at or below the device's: a device older than this
/// NVRTC supports.
pub fn candidates(device_arch: u32, supported: &[u32]) -> Vec<KernelCode> {
    let mut codes = Vec::new();
    if supported.contains(&device_arch) {
        codes.push(KernelCode::Cubin { arch: device_arch });
    }
    if let Some(&arch) = supported.iter().filter(|&&arch| arch <= device_arch).max() {
        codes.push(KernelCode::Ptx { arch });
    }
    codes
}

/// Why one code was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// NVRTC did not compile it (its status and log): a problem of the source or the NVRTC.
    Compile(String),
    /// The driver did not load it (its `CUresult`): a problem of the driver's version.
    Load(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Compile(reason) => write!(f, "not compiled: {reason}"),
            Failure::Load(reason) => write!(f, "the driver did not load it: {reason}"),
        }
    }
}

/// What a failed start says when no code loads, after `attempts` (each code tried and why it
/// failed): the device, both versions and the rule they break.
pub fn no_loadable_code(
    device: &str,
    device_arch: u32,
    driver: CudaVersion,
    nvrtc: CudaVersion,
    supported: &[u32],
    attempts: &[(KernelCode, Failure)],
) -> String {
    let targets = match (supported.iter().min(), supported.iter().max()) {
        (Some(low), Some(high)) => format!("sm_{low} to sm_{high}"),
        _ => "none".to_owned(),
    };
    let versions = format!(
        "{device} (sm_{device_arch}) with a driver for CUDA {driver} and NVRTC {nvrtc} \
         (targets {targets})"
    );
    if attempts.is_empty() {
        return format!(
            "NVRTC cannot compile for {versions}: the device is older than this NVRTC \
             supports; use an NVRTC whose targets include sm_{device_arch}"
        );
    }
    let tried = attempts
        .iter()
        .map(|(code, error)| format!("{code}: {error}"))
        .collect::<Vec<_>>()
        .join("; ");
    let advice = if attempts
        .iter()
        .any(|(_, failure)| matches!(failure, Failure::Load(_)))
    {
        format!(
            "A cubin needs a driver for CUDA {}.x (any minor version), PTX a driver for CUDA \
             {nvrtc} or newer: upgrade the driver or use an NVRTC no newer than CUDA {driver}",
            nvrtc.major
        )
    } else {
        "NVRTC rejected the kernels: its log above says why".to_owned()
    };
    format!("no kernel code loads on {versions}: {tried}. {advice}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Target lists shaped like `nvrtcGetSupportedArchs` answers: an 11.0-era NVRTC (up to
    /// Ampere), a 12.x one (up to Hopper) and a 13.x one, which dropped Maxwell to Volta.
    const NVRTC_11: [u32; 10] = [50, 52, 53, 60, 61, 62, 70, 72, 75, 80];
    const NVRTC_12: [u32; 14] = [50, 52, 53, 60, 61, 62, 70, 72, 75, 80, 86, 87, 89, 90];
    const NVRTC_13: [u32; 9] = [75, 80, 86, 87, 89, 90, 100, 110, 120];

    #[test]
    fn driver_codes_decode_to_major_minor_and_junk_is_rejected() {
        let v = CudaVersion::from_driver_code(12040).unwrap();
        assert_eq!(
            (v.major, v.minor, v.to_string()),
            (12, 4, "12.4".to_owned())
        );
        assert_eq!(
            CudaVersion::from_driver_code(11080).unwrap().to_string(),
            "11.8"
        );
        assert_eq!(
            CudaVersion::from_driver_code(13000).unwrap().to_string(),
            "13.0"
        );
        assert_eq!(CudaVersion::from_driver_code(0), None);
        assert_eq!(CudaVersion::from_driver_code(-1), None);
        let older = CudaVersion {
            major: 12,
            minor: 9,
        };
        assert!(
            older
                < CudaVersion {
                    major: 13,
                    minor: 0
                }
        );
        assert!(
            older
                > CudaVersion {
                    major: 12,
                    minor: 2
                }
        );
    }

    #[test]
    fn compute_capabilities_number_like_nvrtc_targets() {
        assert_eq!(arch_number(8, 9), Some(89));
        assert_eq!(arch_number(9, 0), Some(90));
        assert_eq!(arch_number(12, 0), Some(120));
        assert_eq!(arch_number(-1, 0), None);
        assert_eq!(arch_number(8, 10), None);
    }

    #[test]
    fn codes_name_their_nvrtc_option() {
        assert_eq!(
            KernelCode::Cubin { arch: 90 }.option(),
            "--gpu-architecture=sm_90"
        );
        assert_eq!(
            KernelCode::Ptx { arch: 86 }.option(),
            "--gpu-architecture=compute_86"
        );
        assert_eq!(KernelCode::Cubin { arch: 90 }.to_string(), "sm_90 cubin");
        assert_eq!(KernelCode::Ptx { arch: 86 }.to_string(), "compute_86 PTX");
    }

    #[test]
    fn a_device_nvrtc_knows_gets_its_cubin_first_then_its_ptx() {
        assert_eq!(
            candidates(90, &NVRTC_12),
            [KernelCode::Cubin { arch: 90 }, KernelCode::Ptx { arch: 90 }]
        );
        assert_eq!(
            candidates(86, &NVRTC_13),
            [KernelCode::Cubin { arch: 86 }, KernelCode::Ptx { arch: 86 }]
        );
    }

    #[test]
    fn a_device_newer_than_nvrtc_gets_ptx_of_the_newest_arch_below_it() {
        // Blackwell (12.0) under a 12.x NVRTC, Ada (8.9) and Hopper (9.0) under an 11.0 one.
        assert_eq!(candidates(120, &NVRTC_12), [KernelCode::Ptx { arch: 90 }]);
        assert_eq!(candidates(89, &NVRTC_11), [KernelCode::Ptx { arch: 80 }]);
        assert_eq!(candidates(90, &NVRTC_11), [KernelCode::Ptx { arch: 80 }]);
    }

    #[test]
    fn a_device_older_than_nvrtc_supports_gets_nothing_and_a_reason() {
        // Pascal (6.1) under a 13.x NVRTC.
        assert_eq!(candidates(61, &NVRTC_13), []);
        let message = no_loadable_code(
            "Tesla P4",
            61,
            CudaVersion {
                major: 13,
                minor: 0,
            },
            CudaVersion {
                major: 13,
                minor: 0,
            },
            &NVRTC_13,
            &[],
        );
        assert!(
            message.contains("Tesla P4 (sm_61)")
                && message.contains("NVRTC 13.0 (targets sm_75 to sm_120)")
                && message.contains("older than this NVRTC supports"),
            "{message}"
        );
    }

    #[test]
    fn when_nothing_loads_the_error_names_both_versions_and_each_failure() {
        let attempts = [
            (
                KernelCode::Cubin { arch: 90 },
                Failure::Load("CUDA_ERROR_NO_BINARY_FOR_GPU".to_owned()),
            ),
            (
                KernelCode::Ptx { arch: 90 },
                Failure::Load("CUDA_ERROR_UNSUPPORTED_PTX_VERSION".to_owned()),
            ),
        ];
        let message = no_loadable_code(
            "NVIDIA H100",
            90,
            CudaVersion {
                major: 12,
                minor: 2,
            },
            CudaVersion {
                major: 13,
                minor: 0,
            },
            &NVRTC_13,
            &attempts,
        );
        for part in [
            "NVIDIA H100 (sm_90)",
            "driver for CUDA 12.2",
            "NVRTC 13.0",
            "sm_90 cubin: the driver did not load it: CUDA_ERROR_NO_BINARY_FOR_GPU",
            "compute_90 PTX: the driver did not load it: CUDA_ERROR_UNSUPPORTED_PTX_VERSION",
            "CUDA 13.x",
            "upgrade the driver",
        ] {
            assert!(message.contains(part), "{part:?} missing from {message}");
        }
    }

    #[test]
    fn when_nvrtc_rejects_the_source_the_error_does_not_blame_the_driver() {
        let attempts = [(
            KernelCode::Cubin { arch: 90 },
            Failure::Compile("NVRTC_ERROR_COMPILATION: error: identifier \"x\"".to_owned()),
        )];
        let message = no_loadable_code(
            "NVIDIA H100",
            90,
            CudaVersion {
                major: 13,
                minor: 0,
            },
            CudaVersion {
                major: 13,
                minor: 0,
            },
            &NVRTC_13,
            &attempts,
        );
        assert!(
            message.contains("sm_90 cubin: not compiled: NVRTC_ERROR_COMPILATION")
                && !message.contains("upgrade the driver"),
            "{message}"
        );
    }
}
