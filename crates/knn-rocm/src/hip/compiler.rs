//! Compiling the kernels with hiprtc into a code object for the device's architecture.

use std::ffi::{CString, c_char};
use std::ptr::null_mut;

use knn_core::BackendError;

use crate::hip::library::{Handle, HiprtcLibrary};
use crate::hip::status::HiprtcStatus;

/// The compiler options for `arch` (none lets hiprtc pick its default target).
pub fn options(arch: Option<&str>) -> Vec<String> {
    let mut options = vec!["-O3".to_owned()];
    if let Some(arch) = arch {
        options.push(format!("--offload-arch={arch}"));
    }
    options
}

/// Destroys the program however compilation ends.
struct Program<'a> {
    library: &'a HiprtcLibrary,
    handle: Handle,
}

impl Drop for Program<'_> {
    fn drop(&mut self) {
        // SAFETY: the handle came from hiprtcCreateProgram and is destroyed once.
        let _ = unsafe { (self.library.destroy_program)(&mut self.handle) };
    }
}

fn cstring(text: &str) -> Result<CString, BackendError> {
    CString::new(text).map_err(|_| BackendError::Device(format!("{text:?} contains NUL")))
}

pub fn compile(
    library: &HiprtcLibrary,
    source: &str,
    name: &str,
    options: &[String],
) -> Result<Vec<u8>, BackendError> {
    let c_source = cstring(source)?;
    let c_name = cstring(name)?;
    let c_options = options
        .iter()
        .map(|o| cstring(o))
        .collect::<Result<Vec<_>, _>>()?;
    let option_pointers: Vec<*const c_char> = c_options.iter().map(|o| o.as_ptr()).collect();

    let mut handle: Handle = null_mut();
    // SAFETY: NUL-terminated strings alive for the call; no headers.
    let created = unsafe {
        (library.create_program)(
            &mut handle,
            c_source.as_ptr(),
            c_name.as_ptr(),
            0,
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    HiprtcStatus::check(created).map_err(|s| s.to_backend_error("creating the program", ""))?;
    let program = Program { library, handle };

    // SAFETY: the option array holds `len` valid string pointers.
    let compiled = unsafe {
        (library.compile_program)(
            program.handle,
            option_pointers.len() as i32,
            option_pointers.as_ptr(),
        )
    };
    if let Err(status) = HiprtcStatus::check(compiled) {
        return Err(status.to_backend_error("compiling the kernels", &log(&program)));
    }

    let mut size = 0usize;
    // SAFETY: out-pointer to a live local, then a buffer of exactly the reported size.
    HiprtcStatus::check(unsafe { (library.get_code_size)(program.handle, &mut size) })
        .map_err(|s| s.to_backend_error("sizing the code object", ""))?;
    let mut code = vec![0u8; size];
    HiprtcStatus::check(unsafe { (library.get_code)(program.handle, code.as_mut_ptr().cast()) })
        .map_err(|s| s.to_backend_error("reading the code object", ""))?;
    Ok(code)
}

/// The compiler's log, best effort: it only decorates an error already being reported.
fn log(program: &Program<'_>) -> String {
    let mut size = 0usize;
    // SAFETY: as in `compile`.
    if unsafe { (program.library.get_program_log_size)(program.handle, &mut size) } != 0
        || size == 0
    {
        return String::new();
    }
    let mut log = vec![0u8; size];
    if unsafe { (program.library.get_program_log)(program.handle, log.as_mut_ptr().cast()) } != 0 {
        return String::new();
    }
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    String::from_utf8_lossy(&log[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_target_the_device_arch_when_known() {
        assert_eq!(options(Some("gfx90a")), ["-O3", "--offload-arch=gfx90a"]);
        assert_eq!(options(None), ["-O3"]);
    }
}
