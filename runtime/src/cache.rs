//! [`VqKvCache`]: one layer's quantized KV cache on the GPU (contiguous layout, a fixed batch)
//! with the kernels that fill and read it. For sequences of any length, with sharing, see
//! [`crate::PagedKvCache`].

use crate::append::VqAppend;
use crate::attention::{VqAttention, Workspace};
use crate::error::{Result, RuntimeError};
use crate::gpu::Gpu;
use crate::kv_cache::GpuKvCache;
use crate::spec::CacheSpec;
use cudarc::driver::CudaSlice;
use vecinfer_codegen::{CodeLayout, KernelConfig};
use vecinfer_quant::{CacheLayout, DecodeShape, LayerParams};

pub struct VqKvCache {
    cache: GpuKvCache,
    attention: VqAttention,
    appender: VqAppend,
    workspace: Workspace,
}

impl VqKvCache {
    /// Compiles (cached) the attention and append kernels of `config` and allocates an empty
    /// cache for up to `max_tokens` tokens per sequence. The config must describe the
    /// codebooks (codecs, granularity, transform) and the contiguous layout.
    pub fn new(
        gpu: &Gpu,
        config: &KernelConfig,
        params: &LayerParams<'_>,
        shape: DecodeShape,
        layout: CacheLayout,
        max_tokens: usize,
    ) -> Result<Self> {
        CacheSpec::of(params, CodeLayout::Contiguous, layout)?.check(config)?;
        if shape.group() != config.group {
            return Err(RuntimeError::Invalid(format!(
                "the shape has GQA group {}, the kernel config {config} group {}",
                shape.group(),
                config.group
            )));
        }
        Ok(Self {
            cache: GpuKvCache::empty(gpu, params, shape, layout, max_tokens)?,
            attention: VqAttention::new(gpu, config)?,
            appender: VqAppend::new(gpu, config)?,
            workspace: Workspace::default(),
        })
    }

    /// Forces the warps that encode each appended row (`VqAppend::set_warps_per_row`).
    pub fn set_append_warps_per_row(&mut self, warps: Option<u32>) -> Result<()> {
        self.appender.set_warps_per_row(warps)
    }

    /// One decode step's keys and values, `[batch, kv_heads, head_dim]` f16 each.
    pub fn append(
        &mut self,
        gpu: &Gpu,
        keys: &CudaSlice<u16>,
        values: &CudaSlice<u16>,
    ) -> Result<()> {
        self.cache.append(gpu, &self.appender, keys, values, 1)
    }

    /// `count` tokens per sequence at once, `[batch, kv_heads, count, head_dim]` f16 each.
    pub fn prefill(
        &mut self,
        gpu: &Gpu,
        keys: &CudaSlice<u16>,
        values: &CudaSlice<u16>,
        count: usize,
    ) -> Result<()> {
        self.cache.append(gpu, &self.appender, keys, values, count)
    }

    /// Attention of `query` (`[batch, q_heads, head_dim]` f16) over the cache into `out`.
    pub fn attend(
        &mut self,
        gpu: &Gpu,
        query: &CudaSlice<u16>,
        out: &mut CudaSlice<u16>,
    ) -> Result<()> {
        self.attention
            .attend(gpu, self.cache.view(), query, out, &mut self.workspace)
    }

    pub fn cache(&self) -> &GpuKvCache {
        &self.cache
    }

    pub fn len(&self, seq: usize) -> usize {
        self.cache.len(seq)
    }

    pub fn is_empty(&self, seq: usize) -> bool {
        self.len(seq) == 0
    }
}
