//! The GPU side at run time: NVRTC compilation of generated kernels (cached), the device, the
//! GPU-resident quantized KV caches (contiguous and paged) and the fused attention and append
//! launches, each checked against the cache it is given.

pub mod append;
pub mod attention;
pub mod cache;
pub mod compile;
pub mod declared;
pub mod dependent_launch;
pub mod error;
pub mod gpu;
pub mod kv_cache;
pub mod libraries;
pub mod one_layer;
pub mod paged;
pub mod pages;
pub mod resources;
mod slot_rows;
pub mod spec;
pub mod storage;
pub mod timing;
pub mod token_slots;
pub mod verify;
pub mod view;

pub use append::{VqAppend, VqFlush};
pub use attention::{SplitPlan, VqAttention, Workspace};
pub use cache::VqKvCache;
pub use compile::{arch_name, compile, nvrtc_version};
pub use declared::{DeclaredKernel, KernelDeclaration};
pub use error::{Result, RuntimeError};
pub use gpu::Gpu;
pub use kv_cache::GpuKvCache;
pub use one_layer::{OneLayerCache, spread_lengths};
pub use paged::{PagedCacheOptions, PagedKvCache, PoolSize, Step};
pub use pages::{PageCopy, PagePool, SequenceId, SequenceTable};
pub use spec::CacheSpec;
pub use storage::{CacheBytes, CacheGeometry, LayerStorage, TokenBytes};
pub use timing::{Timer, Timing};
pub use token_slots::{SlotPointers, SlotShape, TokenSlots};
/// Re-exported for the code the proc macros emit.
pub use vecinfer_codegen as codegen;
pub use vecinfer_quant as quant;
pub use view::{CacheView, CacheViewMut, ExternalBatch, HostBatch};
