//! Packing kernel arguments into the single buffer `hipModuleLaunchKernel` accepts through
//! `HIP_LAUNCH_PARAM_BUFFER_POINTER`: each argument at its natural alignment, in order, as a C
//! struct of the kernel's parameters would lay them out.

use std::ffi::c_void;

/// The `extra` markers of `hipModuleLaunchKernel` (`hip_runtime_api.h`).
pub const LAUNCH_PARAM_BUFFER_POINTER: usize = 0x01;
pub const LAUNCH_PARAM_BUFFER_SIZE: usize = 0x02;
pub const LAUNCH_PARAM_END: usize = 0x03;

/// One kernel argument.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arg {
    /// A device pointer.
    Pointer(*mut c_void),
    U32(u32),
    U64(u64),
    F32(f32),
}

impl Arg {
    fn size(self) -> usize {
        match self {
            Arg::Pointer(_) => std::mem::size_of::<*mut c_void>(),
            Arg::U32(_) | Arg::F32(_) => 4,
            Arg::U64(_) => 8,
        }
    }

    fn write(self, out: &mut [u8]) {
        match self {
            Arg::Pointer(p) => out.copy_from_slice(&(p as usize).to_ne_bytes()),
            Arg::U32(v) => out.copy_from_slice(&v.to_ne_bytes()),
            Arg::U64(v) => out.copy_from_slice(&v.to_ne_bytes()),
            Arg::F32(v) => out.copy_from_slice(&v.to_ne_bytes()),
        }
    }
}

/// The packed argument buffer. Alignment equals size for every [`Arg`] kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedArgs {
    bytes: Vec<u8>,
}

impl PackedArgs {
    pub fn pack(args: &[Arg]) -> Self {
        let mut bytes = Vec::new();
        let mut max_align = 1;
        for &arg in args {
            let align = arg.size();
            max_align = max_align.max(align);
            let offset = bytes.len().next_multiple_of(align);
            bytes.resize(offset + arg.size(), 0);
            arg.write(&mut bytes[offset..]);
        }
        // A struct's size is a multiple of its alignment.
        let size = bytes.len().next_multiple_of(max_align);
        bytes.resize(size, 0);
        Self { bytes }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_sit_at_their_natural_alignment_like_a_c_struct() {
        // Like struct { float* a; const float* b; float* c; unsigned dim; unsigned long long
        // offset; unsigned rows; unsigned queries; }: the u64 after one u32 is padded to 8.
        let packed = PackedArgs::pack(&[
            Arg::Pointer(0x1000 as *mut c_void),
            Arg::Pointer(0x2000 as *mut c_void),
            Arg::Pointer(0x3000 as *mut c_void),
            Arg::U32(7),
            Arg::U64(0x0102_0304_0506_0708),
            Arg::U32(9),
            Arg::U32(10),
        ]);
        let b = packed.as_bytes();
        assert_eq!(packed.as_bytes().len(), 48);
        assert_eq!(&b[0..8], &0x1000usize.to_ne_bytes());
        assert_eq!(&b[16..24], &0x3000usize.to_ne_bytes());
        assert_eq!(&b[24..28], &7u32.to_ne_bytes());
        assert_eq!(&b[28..32], &[0; 4], "padding before the u64");
        assert_eq!(&b[32..40], &0x0102_0304_0506_0708u64.to_ne_bytes());
        assert_eq!(&b[40..44], &9u32.to_ne_bytes());
        assert_eq!(&b[44..48], &10u32.to_ne_bytes());
    }

    #[test]
    fn trailing_u32_is_padded_to_the_largest_alignment() {
        let packed = PackedArgs::pack(&[Arg::U64(1), Arg::U32(2)]);
        assert_eq!(packed.as_bytes().len(), 16);
        let only_u32 = PackedArgs::pack(&[Arg::U32(1), Arg::U32(2), Arg::U32(3)]);
        assert_eq!(only_u32.as_bytes().len(), 12);
        assert!(PackedArgs::pack(&[]).as_bytes().is_empty());
    }
}
