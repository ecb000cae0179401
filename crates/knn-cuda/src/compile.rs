//! The calls into NVRTC and the driver that compiling for the device needs and cudarc's safe API
//! lacks: the versions, NVRTC's target list, and a cubin instead of PTX. Callers check first
//! that both libraries load ([`crate::missing_library`]): cudarc panics on a missing library.

use std::ffi::{CStr, CString, c_char, c_int};

use cudarc::driver::sys::{CUresult, cuDriverGetVersion};
use cudarc::nvrtc::result::{self as nvrtc, NvrtcError};
use cudarc::nvrtc::{Ptx, sys};

use crate::target::{CudaVersion, KernelCode};

/// The newest CUDA version the installed driver supports.
pub fn driver_version() -> Result<CudaVersion, String> {
    let mut code: c_int = 0;
    // SAFETY: writes one int; needs no initialised driver.
    let status = unsafe { cuDriverGetVersion(&mut code) };
    if status != CUresult::CUDA_SUCCESS {
        return Err(format!("cuDriverGetVersion failed: {status:?}"));
    }
    CudaVersion::from_driver_code(code)
        .ok_or_else(|| format!("cuDriverGetVersion reported {code}, not a version"))
}

pub fn nvrtc_version() -> Result<CudaVersion, String> {
    let (mut major, mut minor): (c_int, c_int) = (0, 0);
    // SAFETY: writes two ints.
    unsafe { sys::nvrtcVersion(&mut major, &mut minor) }
        .result()
        .map_err(|e| format!("nvrtcVersion failed: {e:?}"))?;
    match (u32::try_from(major), u32::try_from(minor)) {
        (Ok(major), Ok(minor)) => Ok(CudaVersion { major, minor }),
        _ => Err(format!("nvrtcVersion reported {major}.{minor}")),
    }
}

/// The architectures NVRTC can compile for, as numbers (`90` for `sm_90`).
pub fn supported_archs() -> Result<Vec<u32>, String> {
    let failed = |e: NvrtcError| format!("listing NVRTC's targets failed: {e:?}");
    let mut count: c_int = 0;
    // SAFETY: writes one int.
    unsafe { sys::nvrtcGetNumSupportedArchs(&mut count) }
        .result()
        .map_err(failed)?;
    let mut archs = vec![0 as c_int; usize::try_from(count).unwrap_or(0)];
    // SAFETY: NVRTC writes `count` ints, the length of `archs`.
    unsafe { sys::nvrtcGetSupportedArchs(archs.as_mut_ptr()) }
        .result()
        .map_err(failed)?;
    Ok(archs
        .into_iter()
        .filter_map(|arch| u32::try_from(arch).ok())
        .collect())
}

/// An NVRTC program, destroyed when dropped.
struct Program(sys::nvrtcProgram);

impl Drop for Program {
    fn drop(&mut self) {
        // SAFETY: created by `create_program` and destroyed only here. A failure to free it
        // leaks a little host memory once, at start.
        let _ = unsafe { nvrtc::destroy_program(self.0) };
    }
}

/// Compiles `source` to `code`, ready for `CudaContext::load_module`. The error carries NVRTC's
/// status and log.
pub fn compile(source: &str, name: &str, code: KernelCode) -> Result<Ptx, String> {
    let source = CString::new(source).map_err(|_| "the kernel source contains NUL".to_owned())?;
    let name = CString::new(name).map_err(|_| "the kernel name contains NUL".to_owned())?;
    let program = Program(
        nvrtc::create_program(&source, Some(&name))
            .map_err(|e| format!("nvrtcCreateProgram failed: {e:?}"))?,
    );
    // SAFETY: `program` is live until dropped at the end of this function.
    if let Err(error) = unsafe { nvrtc::compile_program(program.0, &[code.option()]) } {
        let log = unsafe { nvrtc::get_program_log(program.0) }
            .map(|log| text(&log))
            .unwrap_or_default();
        return Err(format!("{:?}: {}", error.0, log.trim()));
    }
    match code {
        KernelCode::Cubin { .. } => {
            let mut size = 0usize;
            // SAFETY: `program` was compiled for an `sm_` target, which makes a cubin.
            unsafe { sys::nvrtcGetCUBINSize(program.0, &mut size) }
                .result()
                .map_err(|e| format!("nvrtcGetCUBINSize failed: {e:?}"))?;
            let mut cubin = vec![0u8; size];
            // SAFETY: NVRTC writes `size` bytes.
            unsafe { sys::nvrtcGetCUBIN(program.0, cubin.as_mut_ptr().cast::<c_char>()) }
                .result()
                .map_err(|e| format!("nvrtcGetCUBIN failed: {e:?}"))?;
            Ok(Ptx::from_binary(cubin))
        }
        KernelCode::Ptx { .. } => {
            // SAFETY: `program` was compiled.
            let ptx = unsafe { nvrtc::get_ptx(program.0) }
                .map_err(|e| format!("nvrtcGetPTX failed: {e:?}"))?;
            Ok(Ptx::from_src(text(&ptx)))
        }
    }
}

/// A NUL-terminated buffer from NVRTC as text.
fn text(buffer: &[c_char]) -> String {
    let bytes: Vec<u8> = buffer.iter().map(|&c| c as u8).collect();
    CStr::from_bytes_until_nul(&bytes)
        .map(|text| text.to_string_lossy().into_owned())
        .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nvrtc_buffers_become_text_up_to_the_nul() {
        let buffer: Vec<c_char> = b"error: x\n\0junk".iter().map(|&b| b as c_char).collect();
        assert_eq!(text(&buffer), "error: x\n");
        let unterminated: Vec<c_char> = b"ptx".iter().map(|&b| b as c_char).collect();
        assert_eq!(text(&unterminated), "ptx");
    }
}
