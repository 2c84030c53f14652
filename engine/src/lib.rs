//! The Llama forward pass on the GPU, for generation, GPU perplexity and the decode
//! benchmark, with the KV cache behind one trait ([`KvCache`]): the FP16 baseline
//! ([`Fp16Cache`]) or the project's VQ kernels ([`VqCache`], or [`LayeredCache`] for a
//! layer-wise bit allocation or the one-layer probe).
//!
//! Way (a) of issue 12: the small kernels come from the project's code generator
//! (`vecinfer_codegen::forward`, compiled with NVRTC), the GEMMs from cuBLAS (cudarc,
//! loaded at run time): the binary starts anywhere, and the run-time needs are libcuda,
//! libnvrtc and libcublas. Weights are dequantized from the GGUF on the CPU
//! (`vecinfer_model::GgufWeights`) and uploaded in fp16; norms stay f32, the residual stream
//! and every GEMM's accumulation and output are f32.
//!
//! ```no_run
//! # fn main() -> vecinfer_engine::Result<()> {
//! use vecinfer_engine::{Engine, EngineOptions, Fp16Cache, CacheShape, Session, WeightSource};
//! let engine = Engine::open(WeightSource::Gguf("model.gguf".as_ref()), EngineOptions::default())?;
//! let c = &engine.config;
//! let shape = CacheShape { layers: c.layers, batch: 1, q_heads: c.q_heads, kv_heads: c.kv_heads,
//!                          head_dim: c.head_dim, capacity: 512 };
//! // The decode tiling fastest for this shape (timed once; `Fp16Tiling`), or `&engine.kernels`.
//! let cache = Fp16Cache::new(&engine.gpu, &engine.fp16_kernels(1, 512)?, shape)?;
//! let mut session = Session::new(&engine, Box::new(cache))?;
//! session.prefill(&[&[1, 504, 3458]], 256)?;   // FP16 prefill; the next token is picked
//! for _ in 0..16 {
//!     session.step(true)?;                       // one decode step, replayed from a CUDA graph
//! }
//! # Ok(()) }
//! ```

pub mod bench;
pub mod blas;
pub mod engine;
pub mod error;
pub mod eval;
pub mod kernels;
pub mod kv;
pub mod layered;
pub mod spec;
pub mod synthetic;
pub mod vq;
pub mod weights;

pub use engine::{
    Engine, EngineOptions, FP16_TILING_MARGIN, Fp16Choice, Fp16Tiling, Profiler, Projections,
    SKINNY_DEFAULT_ROWS, Session, Share, TokenWrites, Tuned,
};
pub use error::{EngineError, Result};
pub use kernels::ForwardKernels;
pub use kv::{CacheShape, Fp16Cache, KvCache};
pub use layered::LayeredCache;
pub use spec::CacheSpec;
/// The most rows the skinny projections take.
pub use vecinfer_codegen::SKINNY_ROWS;
pub use vq::VqCache;
pub use weights::{WeightReader, WeightSource};
