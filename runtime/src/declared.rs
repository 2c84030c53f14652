//! Kernels declared at compile time (`#[vq_attention]`, `vq_kernels!`): the config and its
//! generated source are constants of a type; this compiles the embedded source once and
//! launches it with typed arguments.

use crate::attention::{VqAttention, Workspace};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::view::CacheView;
use cudarc::driver::CudaSlice;
use std::marker::PhantomData;
use vecinfer_codegen::{EmittedKernel, KernelConfig};

/// What the proc macros implement for a declared kernel type.
pub trait KernelDeclaration {
    const CONFIG: KernelConfig;
    /// The CUDA C the code generator emitted for `CONFIG` at compile time.
    const SOURCE: &'static str;
    const ATTENTION_ENTRY: &'static str;
    const MERGE_ENTRY: &'static str;
    const SHARED_BYTES: u32;
    /// The tuned-configs entry the config came from, if any.
    const TUNED_FROM: Option<&'static str>;
}

/// A declared kernel, compiled for one GPU.
pub struct DeclaredKernel<K: KernelDeclaration> {
    attention: VqAttention,
    workspace: Workspace,
    kind: PhantomData<K>,
}

impl<K: KernelDeclaration> DeclaredKernel<K> {
    /// Compiles the embedded source with NVRTC (through the module cache) and loads it.
    pub fn compile(gpu: &Gpu) -> Result<Self> {
        let config = K::CONFIG;
        let emitted = EmittedKernel {
            config,
            source: K::SOURCE.to_string(),
            attention_entry: K::ATTENTION_ENTRY.to_string(),
            merge_entry: K::MERGE_ENTRY.to_string(),
            block_threads: config.threads() as u32,
            merge_threads: vecinfer_codegen::MERGE_THREADS,
            shared_bytes: K::SHARED_BYTES,
        };
        Ok(Self {
            attention: VqAttention::from_emitted(gpu, emitted)?,
            workspace: Workspace::default(),
            kind: PhantomData,
        })
    }

    /// One decode step over `cache` (a [`crate::GpuKvCache`], or a layer of a
    /// [`crate::PagedKvCache`] in a step): `query` and `out` are `[batch, q_heads, head_dim]`,
    /// fp16 bits (the output in the config's dtype). The kernel is checked against what the
    /// cache holds (codecs, granularity, transform, layout) before it runs.
    pub fn attend<'a>(
        &mut self,
        gpu: &Gpu,
        cache: impl Into<CacheView<'a>>,
        query: &CudaSlice<u16>,
        out: &mut CudaSlice<u16>,
    ) -> Result<()> {
        self.attention
            .attend(gpu, cache, query, out, &mut self.workspace)
    }

    pub fn config(&self) -> &KernelConfig {
        &self.attention.kernel.config
    }

    /// The loaded kernel, e.g. to check it with [`crate::verify::VerifyCase`].
    pub fn attention(&self) -> &VqAttention {
        &self.attention
    }
}
