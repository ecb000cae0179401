//! The HIP runtime and hiprtc, opened with `dlopen` when the backend starts, so that building
//! needs no ROCm and a machine without it gets a reason instead of a loader error.

use std::ffi::{c_char, c_int, c_uint, c_void};

use libloading::Library;

pub type Handle = *mut c_void;

/// Sonames tried in order: the development symlink first, then the runtime sonames of the ROCm
/// releases whose ABI this layer uses (5.x to 7.x).
pub const HIP_LIBRARY_NAMES: [&str; 4] = [
    "libamdhip64.so",
    "libamdhip64.so.7",
    "libamdhip64.so.6",
    "libamdhip64.so.5",
];
pub const HIPRTC_LIBRARY_NAMES: [&str; 4] = [
    "libhiprtc.so",
    "libhiprtc.so.7",
    "libhiprtc.so.6",
    "libhiprtc.so.5",
];

/// The HIP runtime entry points this backend calls, with the library that keeps them valid.
pub struct HipLibrary {
    pub init: unsafe extern "C" fn(c_uint) -> c_int,
    pub get_device_count: unsafe extern "C" fn(*mut c_int) -> c_int,
    pub set_device: unsafe extern "C" fn(c_int) -> c_int,
    pub device_get_name: unsafe extern "C" fn(*mut c_char, c_int, c_int) -> c_int,
    pub device_total_mem: unsafe extern "C" fn(*mut usize, c_int) -> c_int,
    pub get_device_properties: unsafe extern "C" fn(*mut c_void, c_int) -> c_int,
    pub mem_get_info: unsafe extern "C" fn(*mut usize, *mut usize) -> c_int,
    pub malloc: unsafe extern "C" fn(*mut Handle, usize) -> c_int,
    pub free: unsafe extern "C" fn(Handle) -> c_int,
    pub memcpy_htod: unsafe extern "C" fn(Handle, *mut c_void, usize) -> c_int,
    pub memcpy_dtoh: unsafe extern "C" fn(*mut c_void, Handle, usize) -> c_int,
    pub module_load_data: unsafe extern "C" fn(*mut Handle, *const c_void) -> c_int,
    pub module_unload: unsafe extern "C" fn(Handle) -> c_int,
    pub module_get_function: unsafe extern "C" fn(*mut Handle, Handle, *const c_char) -> c_int,
    #[allow(clippy::type_complexity)]
    pub module_launch_kernel: unsafe extern "C" fn(
        Handle,
        c_uint,
        c_uint,
        c_uint,
        c_uint,
        c_uint,
        c_uint,
        c_uint,
        Handle,
        *mut *mut c_void,
        *mut *mut c_void,
    ) -> c_int,
    _library: Library,
}

/// The hiprtc entry points.
pub struct HiprtcLibrary {
    #[allow(clippy::type_complexity)]
    pub create_program: unsafe extern "C" fn(
        *mut Handle,
        *const c_char,
        *const c_char,
        c_int,
        *const *const c_char,
        *const *const c_char,
    ) -> c_int,
    pub compile_program: unsafe extern "C" fn(Handle, c_int, *const *const c_char) -> c_int,
    pub get_program_log_size: unsafe extern "C" fn(Handle, *mut usize) -> c_int,
    pub get_program_log: unsafe extern "C" fn(Handle, *mut c_char) -> c_int,
    pub get_code_size: unsafe extern "C" fn(Handle, *mut usize) -> c_int,
    pub get_code: unsafe extern "C" fn(Handle, *mut c_char) -> c_int,
    pub destroy_program: unsafe extern "C" fn(*mut Handle) -> c_int,
    _library: Library,
}

/// Opens the first of `names` that loads; the error lists what was tried.
fn open(names: &[&str]) -> Result<Library, String> {
    let mut failures = Vec::new();
    for &name in names {
        // SAFETY: loading runs the library's initialisers; the HIP libraries are meant to be
        // loaded into arbitrary processes.
        match unsafe { Library::new(name) } {
            Ok(library) => return Ok(library),
            Err(error) => failures.push(format!("{name}: {}", describe(&error))),
        }
    }
    Err(failures.join("; "))
}

/// libloading's message with the loader's own (`dlerror`), which libloading keeps as the source.
fn describe(error: &libloading::Error) -> String {
    match std::error::Error::source(error) {
        Some(source) => format!("{error}: {source}"),
        None => error.to_string(),
    }
}

/// Looks up `name` and copies out the function pointer; the caller keeps `library` alive for as
/// long as the pointer is used, which both structs above do by owning it.
///
/// # Safety
/// `T` must be the function's true signature.
unsafe fn symbol<T: Copy>(library: &Library, name: &str) -> Result<T, String> {
    // SAFETY: forwarded to the caller.
    unsafe { library.get::<T>(name.as_bytes()) }
        .map(|symbol| *symbol)
        .map_err(|e| format!("symbol {name} missing: {}", describe(&e)))
}

impl HipLibrary {
    pub fn load() -> Result<Self, String> {
        let library = open(&HIP_LIBRARY_NAMES)
            .map_err(|tried| format!("no ROCm runtime: libamdhip64.so not loadable ({tried})"))?;
        // SAFETY: each signature below is transcribed from hip_runtime_api.h, with hipError_t as
        // int, hipDevice_t as int and every handle type as a pointer.
        unsafe {
            Ok(Self {
                init: symbol(&library, "hipInit")?,
                get_device_count: symbol(&library, "hipGetDeviceCount")?,
                set_device: symbol(&library, "hipSetDevice")?,
                device_get_name: symbol(&library, "hipDeviceGetName")?,
                device_total_mem: symbol(&library, "hipDeviceTotalMem")?,
                // ROCm 6 renamed the exported symbol when the struct changed; either fills a
                // struct that `arch::gfx_name` scans, so both layouts work.
                get_device_properties: symbol(&library, "hipGetDevicePropertiesR0600")
                    .or_else(|_| symbol(&library, "hipGetDeviceProperties"))?,
                mem_get_info: symbol(&library, "hipMemGetInfo")?,
                malloc: symbol(&library, "hipMalloc")?,
                free: symbol(&library, "hipFree")?,
                memcpy_htod: symbol(&library, "hipMemcpyHtoD")?,
                memcpy_dtoh: symbol(&library, "hipMemcpyDtoH")?,
                module_load_data: symbol(&library, "hipModuleLoadData")?,
                module_unload: symbol(&library, "hipModuleUnload")?,
                module_get_function: symbol(&library, "hipModuleGetFunction")?,
                module_launch_kernel: symbol(&library, "hipModuleLaunchKernel")?,
                _library: library,
            })
        }
    }
}

impl HiprtcLibrary {
    pub fn load() -> Result<Self, String> {
        let library = open(&HIPRTC_LIBRARY_NAMES).map_err(|tried| {
            format!("no HIP runtime compiler: libhiprtc.so not loadable ({tried})")
        })?;
        // SAFETY: signatures transcribed from hiprtc.h, hiprtcResult as int, hiprtcProgram as a
        // pointer.
        unsafe {
            Ok(Self {
                create_program: symbol(&library, "hiprtcCreateProgram")?,
                compile_program: symbol(&library, "hiprtcCompileProgram")?,
                get_program_log_size: symbol(&library, "hiprtcGetProgramLogSize")?,
                get_program_log: symbol(&library, "hiprtcGetProgramLog")?,
                get_code_size: symbol(&library, "hiprtcGetCodeSize")?,
                get_code: symbol(&library, "hiprtcGetCode")?,
                destroy_program: symbol(&library, "hiprtcDestroyProgram")?,
                _library: library,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_library_lists_every_name_tried() {
        let error = open(&["libknn-does-not-exist.so", "libknn-nor-this.so.1"]).unwrap_err();
        assert!(error.contains("libknn-does-not-exist.so:"), "{error}");
        // The loader's reason, not only libloading's summary.
        assert!(
            error.contains("No such file") || error.contains("cannot open"),
            "{error}"
        );
        assert!(error.contains("; libknn-nor-this.so.1:"), "{error}");
    }

    #[test]
    fn symbols_resolve_from_a_real_library() {
        // libc is on every host: proves the lookup-and-copy path without ROCm.
        let library = open(&["libc.so.6"]).unwrap();
        let getpid: unsafe extern "C" fn() -> c_int =
            unsafe { symbol(&library, "getpid") }.unwrap();
        assert_eq!(unsafe { getpid() } as u32, std::process::id());
        let missing = unsafe { symbol::<unsafe extern "C" fn()>(&library, "hipNoSuchFunction") };
        assert!(missing.unwrap_err().contains("hipNoSuchFunction"));
    }
}
