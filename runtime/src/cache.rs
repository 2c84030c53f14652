//! [`VqKvCache`]: one layer's quantized KV cache on the GPU with the kernels that fill and
//! read it — what an engine embeds.

use crate::append::VqAppend;
use crate::attention::{VqAttention, Workspace};
use crate::error::{Result, RuntimeError};
use crate::gpu::Gpu;
use crate::kv_cache::GpuKvCache;
use cudarc::driver::CudaSlice;
use vecinfer_codegen::KernelConfig;
use vecinfer_quant::{CacheLayout, DecodeShape, LayerParams};

pub struct VqKvCache {
    pub cache: GpuKvCache,
    attention: VqAttention,
    appender: VqAppend,
    workspace: Workspace,
}

/// The config must describe the codebooks it will read.
fn check_params(config: &KernelConfig, params: &LayerParams<'_>, shape: DecodeShape) -> Result<()> {
    let (kc, vc) = (params.keys.codec(), params.values.codec());
    let want_books = config.granularity.codebooks_per_layer(shape.kv_heads);
    let mismatch = if kc != config.key_codec || vc != config.value_codec {
        Some(format!(
            "the codebooks are {kc}/{vc}, the kernel config {}/{}",
            config.key_codec, config.value_codec
        ))
    } else if params.transform != config.transform {
        Some(format!(
            "the codebooks were calibrated for transform {}, the kernel config has {}",
            params.transform.name(),
            config.transform.name()
        ))
    } else if params.keys.all().len() != want_books || params.values.all().len() != want_books {
        Some(format!(
            "{} granularity needs {want_books} codebooks per layer, the layer has {} (K) and {} (V)",
            config.granularity,
            params.keys.all().len(),
            params.values.all().len()
        ))
    } else if shape.head_dim != config.head_dim || shape.group() != config.group {
        Some(format!(
            "the shape has head dim {} and group {}, the kernel config {} and {}",
            shape.head_dim,
            shape.group(),
            config.head_dim,
            config.group
        ))
    } else {
        None
    };
    match mismatch {
        Some(m) => Err(RuntimeError::Invalid(format!(
            "kernel config {config}: {m}"
        ))),
        None => Ok(()),
    }
}

impl VqKvCache {
    /// Compiles (cached) the attention and append kernels of `config` and allocates an empty
    /// cache for up to `max_tokens` tokens per sequence.
    pub fn new(
        gpu: &Gpu,
        config: &KernelConfig,
        params: &LayerParams<'_>,
        shape: DecodeShape,
        layout: CacheLayout,
        max_tokens: usize,
    ) -> Result<Self> {
        check_params(config, params, shape)?;
        Ok(Self {
            cache: GpuKvCache::empty(gpu, params, shape, layout, max_tokens)?,
            attention: VqAttention::new(gpu, config)?,
            appender: VqAppend::new(gpu, config)?,
            workspace: Workspace::default(),
        })
    }

    /// One decode step's keys and values, `[batch, kv_heads, head_dim]` f16 each.
    pub fn append(
        &mut self,
        gpu: &Gpu,
        keys: &CudaSlice<u16>,
        values: &CudaSlice<u16>,
    ) -> Result<()> {
        self.appender.append(gpu, &mut self.cache, keys, values, 1)
    }

    /// `count` tokens per sequence at once, `[batch, kv_heads, count, head_dim]` f16 each.
    pub fn prefill(
        &mut self,
        gpu: &Gpu,
        keys: &CudaSlice<u16>,
        values: &CudaSlice<u16>,
        count: usize,
    ) -> Result<()> {
        self.appender
            .append(gpu, &mut self.cache, keys, values, count)
    }

    /// Attention of `query` (`[batch, q_heads, head_dim]` f16) over the cache into `out`.
    pub fn attend(
        &mut self,
        gpu: &Gpu,
        query: &CudaSlice<u16>,
        out: &mut CudaSlice<u16>,
    ) -> Result<()> {
        self.attention
            .attend(gpu, &self.cache, query, out, &mut self.workspace)
    }

    pub fn len(&self, seq: usize) -> usize {
        self.cache.total_len_host[seq]
    }

    pub fn is_empty(&self, seq: usize) -> bool {
        self.len(seq) == 0
    }
}
