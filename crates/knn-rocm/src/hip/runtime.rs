//! Safe wrappers over the HIP runtime calls: every pointer and length handed to HIP is checked or
//! owned here, and every status becomes a [`BackendError`].

use std::ffi::{CString, c_char, c_void};
use std::ptr::null_mut;
use std::sync::Arc;

use knn_core::BackendError;

use crate::hip::arch;
use crate::hip::args::{
    LAUNCH_PARAM_BUFFER_POINTER, LAUNCH_PARAM_BUFFER_SIZE, LAUNCH_PARAM_END, PackedArgs,
};
use crate::hip::library::{Handle, HipLibrary};
use crate::hip::status::HipStatus;

pub struct Hip {
    library: HipLibrary,
    device: i32,
}

impl Hip {
    /// Loads the runtime, initialises it and selects device `ordinal`.
    pub fn open(ordinal: i32) -> Result<Arc<Self>, BackendError> {
        let library = HipLibrary::load().map_err(|reason| BackendError::Unavailable {
            backend: "rocm".into(),
            reason,
        })?;
        let hip = Self {
            library,
            device: ordinal,
        };
        // SAFETY: plain calls with a flag value and an out-pointer to a live local.
        hip.check(unsafe { (hip.library.init)(0) }, "initialising HIP", None)?;
        let mut count = 0;
        hip.check(
            unsafe { (hip.library.get_device_count)(&mut count) },
            "counting devices",
            None,
        )?;
        if count <= ordinal {
            return Err(BackendError::Unavailable {
                backend: "rocm".into(),
                reason: format!("HIP found {count} device(s), device {ordinal} requested"),
            });
        }
        hip.bind()?;
        Ok(Arc::new(hip))
    }

    fn check(
        &self,
        code: i32,
        doing: &str,
        allocation: Option<(u64, u64)>,
    ) -> Result<(), BackendError> {
        HipStatus::check(code).map_err(|status| status.to_backend_error(doing, allocation))
    }

    /// Makes this backend's device current on the calling thread (HIP's current device is per
    /// thread, and searches run on the caller's threads).
    pub fn bind(&self) -> Result<(), BackendError> {
        // SAFETY: takes a device ordinal by value.
        self.check(
            unsafe { (self.library.set_device)(self.device) },
            "selecting the device",
            None,
        )
    }

    pub fn name(&self) -> Result<String, BackendError> {
        let mut name = [0 as c_char; 256];
        // SAFETY: the length passed is the buffer's; HIP writes a NUL-terminated string into it.
        self.check(
            unsafe {
                (self.library.device_get_name)(name.as_mut_ptr(), name.len() as i32, self.device)
            },
            "reading the device name",
            None,
        )?;
        let bytes: Vec<u8> = name
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    pub fn total_memory(&self) -> Result<u64, BackendError> {
        let mut bytes = 0usize;
        // SAFETY: out-pointer to a live local.
        self.check(
            unsafe { (self.library.device_total_mem)(&mut bytes, self.device) },
            "reading the memory size",
            None,
        )?;
        Ok(bytes as u64)
    }

    pub fn free_memory(&self) -> Result<u64, BackendError> {
        self.bind()?;
        let (mut free, mut total) = (0usize, 0usize);
        // SAFETY: out-pointers to live locals.
        self.check(
            unsafe { (self.library.mem_get_info)(&mut free, &mut total) },
            "querying free memory",
            None,
        )?;
        Ok(free as u64)
    }

    /// The `gfx…` architecture to compile for, if the runtime reports one.
    pub fn arch(&self) -> Result<Option<String>, BackendError> {
        let mut properties = vec![0u8; arch::PROPERTIES_BUFFER_BYTES];
        // SAFETY: the buffer is larger than hipDeviceProp_t of any release (see arch.rs).
        self.check(
            unsafe {
                (self.library.get_device_properties)(properties.as_mut_ptr().cast(), self.device)
            },
            "reading the device properties",
            None,
        )?;
        Ok(arch::gfx_name(&properties))
    }

    pub fn alloc(self: &Arc<Self>, bytes: usize) -> Result<DeviceBuffer, BackendError> {
        self.bind()?;
        let free = self.free_memory()?;
        let mut ptr: Handle = null_mut();
        // SAFETY: out-pointer to a live local; a zero-byte request is rounded up so that every
        // buffer has a distinct, freeable pointer.
        self.check(
            unsafe { (self.library.malloc)(&mut ptr, bytes.max(4)) },
            "allocating device memory",
            Some((bytes as u64, free)),
        )?;
        Ok(DeviceBuffer {
            hip: Arc::clone(self),
            ptr,
            bytes,
        })
    }

    pub fn upload<T: Plain>(
        &self,
        buffer: &mut DeviceBuffer,
        data: &[T],
    ) -> Result<(), BackendError> {
        let bytes = std::mem::size_of_val(data);
        if bytes > buffer.bytes {
            return Err(BackendError::Device(format!(
                "copy of {bytes} bytes into a device buffer of {}",
                buffer.bytes
            )));
        }
        self.bind()?;
        // SAFETY: the destination holds at least `bytes` (checked above); HIP only reads the
        // source, whose pointer is cast to mutable because the C signature is not const.
        self.check(
            unsafe { (self.library.memcpy_htod)(buffer.ptr, data.as_ptr() as *mut c_void, bytes) },
            "copying to the device",
            None,
        )
    }

    /// Copies `out.len()` values of `buffer` back, starting at value `first`; waits for
    /// preceding launches.
    pub fn download<T: Plain>(
        &self,
        buffer: &DeviceBuffer,
        first: usize,
        out: &mut [T],
    ) -> Result<(), BackendError> {
        let bytes = std::mem::size_of_val(out);
        let offset = first * std::mem::size_of::<T>();
        if offset + bytes > buffer.bytes {
            return Err(BackendError::Device(format!(
                "copy of {bytes} bytes at {offset} out of a device buffer of {}",
                buffer.bytes
            )));
        }
        self.bind()?;
        // SAFETY: the source range lies inside the buffer and `out` holds `bytes` (checked
        // above); `T` is plain data, so any bytes HIP writes are a valid value.
        self.check(
            unsafe {
                (self.library.memcpy_dtoh)(
                    out.as_mut_ptr().cast(),
                    buffer.ptr.cast::<u8>().add(offset).cast(),
                    bytes,
                )
            },
            "copying from the device",
            None,
        )
    }

    pub fn load_module(self: &Arc<Self>, code_object: &[u8]) -> Result<Arc<Module>, BackendError> {
        self.bind()?;
        let mut handle: Handle = null_mut();
        // SAFETY: the code object comes from hiprtc and outlives the call; HIP copies it.
        self.check(
            unsafe { (self.library.module_load_data)(&mut handle, code_object.as_ptr().cast()) },
            "loading the compiled kernels",
            None,
        )?;
        Ok(Arc::new(Module {
            hip: Arc::clone(self),
            handle,
        }))
    }

    pub fn function(&self, module: &Arc<Module>, name: &str) -> Result<Function, BackendError> {
        let c_name = CString::new(name)
            .map_err(|_| BackendError::Device(format!("kernel name {name:?} contains NUL")))?;
        let mut handle: Handle = null_mut();
        // SAFETY: a live module handle and a NUL-terminated name.
        self.check(
            unsafe {
                (self.library.module_get_function)(&mut handle, module.handle, c_name.as_ptr())
            },
            &format!("finding kernel {name}"),
            None,
        )?;
        Ok(Function {
            handle,
            name: name.to_owned(),
            _module: Arc::clone(module),
        })
    }

    /// Launches `function` on the default stream with the packed arguments.
    pub fn launch(
        &self,
        function: &Function,
        grid: (u32, u32, u32),
        block: (u32, u32, u32),
        args: &PackedArgs,
    ) -> Result<(), BackendError> {
        self.bind()?;
        let mut size = args.as_bytes().len();
        let mut extra = launch_extra(args, &mut size);
        // SAFETY: `extra` follows HIP's BUFFER_POINTER/BUFFER_SIZE/END protocol and points at
        // `args` and `size`, both alive until the call returns (HIP copies the arguments at
        // launch). The caller packs arguments matching the kernel's parameter list.
        self.check(
            unsafe {
                (self.library.module_launch_kernel)(
                    function.handle,
                    grid.0,
                    grid.1,
                    grid.2,
                    block.0,
                    block.1,
                    block.2,
                    0,
                    null_mut(),
                    null_mut(),
                    extra.as_mut_ptr(),
                )
            },
            &format!("launching kernel {}", function.name),
            None,
        )
    }
}

/// Values that may cross to and from the device as raw bytes: every bit pattern is a value.
pub trait Plain: Copy {}
impl Plain for f32 {}
impl Plain for u32 {}

/// The `extra` array of `hipModuleLaunchKernel` for a packed argument buffer.
pub fn launch_extra(args: &PackedArgs, size: &mut usize) -> [*mut c_void; 5] {
    [
        LAUNCH_PARAM_BUFFER_POINTER as *mut c_void,
        args.as_bytes().as_ptr() as *mut c_void,
        LAUNCH_PARAM_BUFFER_SIZE as *mut c_void,
        (size as *mut usize).cast(),
        LAUNCH_PARAM_END as *mut c_void,
    ]
}

/// Device memory, freed on drop.
pub struct DeviceBuffer {
    hip: Arc<Hip>,
    ptr: Handle,
    bytes: usize,
}

// SAFETY: a HIP device allocation is a process-wide address, usable from any thread once that
// thread has bound the device (every use goes through `Hip`, which binds first).
unsafe impl Send for DeviceBuffer {}
unsafe impl Sync for DeviceBuffer {}

impl DeviceBuffer {
    pub fn device_pointer(&self) -> *mut c_void {
        self.ptr
    }
}

impl Drop for DeviceBuffer {
    fn drop(&mut self) {
        if self.hip.bind().is_ok() {
            // SAFETY: the pointer came from hipMalloc and is freed once. A failure cannot be
            // reported from drop; the memory is then reclaimed with the process.
            let _ = unsafe { (self.hip.library.free)(self.ptr) };
        }
    }
}

pub struct Module {
    hip: Arc<Hip>,
    handle: Handle,
}

// SAFETY: as for DeviceBuffer: module handles are process-wide.
unsafe impl Send for Module {}
unsafe impl Sync for Module {}

impl Drop for Module {
    fn drop(&mut self) {
        // SAFETY: unloaded once, after every Function (which holds an Arc to it) is gone.
        let _ = unsafe { (self.hip.library.module_unload)(self.handle) };
    }
}

pub struct Function {
    handle: Handle,
    name: String,
    _module: Arc<Module>,
}

// SAFETY: as for Module, which it keeps alive.
unsafe impl Send for Function {}
unsafe impl Sync for Function {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hip::args::Arg;

    #[test]
    fn launch_extra_points_at_the_buffer_and_its_size_between_the_markers() {
        let args = PackedArgs::pack(&[Arg::U32(1), Arg::U64(2)]);
        let mut size = args.as_bytes().len();
        let extra = launch_extra(&args, &mut size);
        assert_eq!(extra[0] as usize, 0x01);
        assert_eq!(extra[1] as *const u8, args.as_bytes().as_ptr());
        assert_eq!(extra[2] as usize, 0x02);
        assert_eq!(unsafe { *(extra[3] as *const usize) }, 16);
        assert_eq!(extra[4] as usize, 0x03);
    }
}
