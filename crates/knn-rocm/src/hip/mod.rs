//! Our own small FFI layer over the HIP runtime (`libamdhip64`) and hiprtc, loaded at run time.
//! Only the calls this backend needs; unsafe code stays in this module.

pub mod arch;
pub mod args;
pub mod compiler;
pub mod library;
pub mod runtime;
pub mod status;
