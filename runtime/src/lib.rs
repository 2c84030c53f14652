//! The GPU side at run time: NVRTC compilation of generated kernels (cached), the device, the
//! GPU-resident quantized KV cache and the fused attention launch.

pub mod append;
pub mod attention;
pub mod cache;
pub mod compile;
pub mod declared;
pub mod error;
pub mod gpu;
pub mod kv_cache;
pub mod libraries;
pub mod timing;
pub mod verify;

pub use append::VqAppend;
pub use attention::{SplitPlan, VqAttention, Workspace};
pub use cache::VqKvCache;
pub use compile::{arch_name, compile, nvrtc_version};
pub use declared::{DeclaredKernel, KernelDeclaration};
pub use error::{Result, RuntimeError};
pub use gpu::Gpu;
pub use kv_cache::{EncoderBooks, GpuKvCache};
pub use timing::{Timer, Timing};
/// Re-exported for the code the proc macros emit.
pub use vecinfer_codegen as codegen;
pub use vecinfer_quant as quant;
