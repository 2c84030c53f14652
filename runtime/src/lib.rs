//! The GPU side at run time: NVRTC compilation of generated kernels (cached), the device, the
//! GPU-resident quantized KV cache and the fused attention launch.

pub mod compile;
pub mod error;
pub mod libraries;

pub use compile::{arch_name, compile, nvrtc_version};
pub use error::{Result, RuntimeError};
