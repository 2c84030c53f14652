//! The VQ cache backend: the project's VQ kernels through one `vecinfer_runtime::VqKvCache` per
//! layer (contiguous; the paged cache replaces it later). Append is the GPU quantize-and-append
//! kernel (the CPU reference's rules: sinks, the newest `residual` tokens in fp16, the oldest
//! window token flushed into codes), attention the fused kernel, the prompt bulk-quantized.
//!
//! The VQ kernels keep their own lengths on the device; the host copies decide launch
//! geometry, so graph capture plans for the longest length the graph will meet.

use crate::error::{EngineError, Result};
use crate::kernels::ForwardKernels;
use crate::kv::{CacheShape, KvCache};
use cudarc::driver::CudaSlice;
use vecinfer_codegen::KernelConfig;
use vecinfer_quant::{CacheLayout, CodebookSet, DecodeShape, KeyTransform, Method};
use vecinfer_runtime::kv_cache::coded_tokens;
use vecinfer_runtime::{Gpu, VqKvCache};

pub struct VqCache {
    config: KernelConfig,
    layout: CacheLayout,
    shape: CacheShape,
    layers: Vec<VqKvCache>,
    saved: Vec<(Vec<usize>, Vec<usize>, usize)>,
}

impl VqCache {
    /// The default kernel config for the model's shape and the codebooks' codecs,
    /// granularity and the method's key transform.
    pub fn config_for(
        set: &CodebookSet,
        transform: KeyTransform,
        shape: &CacheShape,
    ) -> KernelConfig {
        KernelConfig {
            granularity: set.meta.granularity,
            transform,
            ..KernelConfig::default_for(
                shape.head_dim,
                shape.q_heads / shape.kv_heads,
                set.meta.key_codec,
                set.meta.value_codec,
            )
        }
    }

    /// One cache per layer with `set`'s codebooks for `transform`, kernels compiled (cached).
    pub fn new(
        gpu: &Gpu,
        set: &CodebookSet,
        transform: KeyTransform,
        shape: CacheShape,
        layout: CacheLayout,
    ) -> Result<Self> {
        Self::with_config(
            gpu,
            set,
            Self::config_for(set, transform, &shape),
            shape,
            layout,
        )
    }

    pub fn with_config(
        gpu: &Gpu,
        set: &CodebookSet,
        config: KernelConfig,
        shape: CacheShape,
        layout: CacheLayout,
    ) -> Result<Self> {
        let m = &set.meta;
        if (m.layers, m.kv_heads, m.head_dim) != (shape.layers, shape.kv_heads, shape.head_dim) {
            return Err(EngineError::Invalid(format!(
                "codebooks are for {} layers × {} KV heads × dim {} ({}), the model has {} × {} × {}",
                m.layers,
                m.kv_heads,
                m.head_dim,
                m.model_id,
                shape.layers,
                shape.kv_heads,
                shape.head_dim
            )));
        }
        let decode = DecodeShape {
            batch: shape.batch,
            q_heads: shape.q_heads,
            kv_heads: shape.kv_heads,
            head_dim: shape.head_dim,
        };
        let mut layers = Vec::with_capacity(shape.layers);
        for layer in 0..shape.layers {
            let params = set.layer(layer, config.transform)?;
            layers.push(VqKvCache::new(
                gpu,
                &config,
                &params,
                decode,
                layout,
                shape.capacity,
            )?);
        }
        let mut cache = Self {
            config,
            layout,
            shape,
            layers,
            saved: Vec::new(),
        };
        cache.reserve_workspace(gpu)?;
        Ok(cache)
    }

    pub fn kernel_config(&self) -> &KernelConfig {
        &self.config
    }

    pub fn layout(&self) -> CacheLayout {
        self.layout
    }

    /// Sizes each layer's split scratch for the largest plan (a full cache) by one attention
    /// over the empty cache, so that no later launch allocates, inside a graph capture least
    /// of all.
    fn reserve_workspace(&mut self, gpu: &Gpu) -> Result<()> {
        let s = self.shape;
        let elements = s.batch * s.q_heads * s.head_dim;
        let query = gpu.stream.alloc_zeros::<u16>(elements)?;
        let mut out = gpu.stream.alloc_zeros::<u16>(elements)?;
        let full = coded_tokens(self.layout, s.capacity);
        for layer in &mut self.layers {
            let saved = std::mem::replace(&mut layer.cache.coded_len_host, vec![full; s.batch]);
            let result = layer.attend(gpu, &query, &mut out);
            layer.cache.coded_len_host = saved;
            result?;
        }
        Ok(())
    }

    /// Layer `layer`'s runtime cache (for checks).
    pub fn layer(&self, layer: usize) -> &VqKvCache {
        &self.layers[layer]
    }
}

impl KvCache for VqCache {
    fn describe(&self) -> String {
        format!(
            "{} K {} V {} ({} codebooks), sinks {}, newest {} in fp16",
            Method::Vq(self.config.transform).name(),
            self.config.key_codec,
            self.config.value_codec,
            self.config.granularity,
            self.layout.sinks,
            self.layout.residual
        )
    }

    fn shape(&self) -> CacheShape {
        self.shape
    }

    fn load_prompt(
        &mut self,
        gpu: &Gpu,
        layer: usize,
        keys: &CudaSlice<u16>,
        values: &CudaSlice<u16>,
        tokens: usize,
    ) -> Result<()> {
        Ok(self.layers[layer].prefill(gpu, keys, values, tokens)?)
    }

    fn append(
        &mut self,
        gpu: &Gpu,
        layer: usize,
        keys: &CudaSlice<u16>,
        values: &CudaSlice<u16>,
        _positions: &CudaSlice<i32>,
    ) -> Result<()> {
        Ok(self.layers[layer].append(gpu, keys, values)?)
    }

    fn attend(
        &mut self,
        gpu: &Gpu,
        layer: usize,
        query: &CudaSlice<u16>,
        out: &mut CudaSlice<u16>,
        _positions: &CudaSlice<i32>,
        plan_len: usize,
    ) -> Result<()> {
        let cache = &mut self.layers[layer];
        let now = cache
            .cache
            .coded_len_host
            .iter()
            .copied()
            .max()
            .unwrap_or(0);
        let planned = coded_tokens(self.layout, plan_len.min(self.shape.capacity)).max(now);
        let saved = std::mem::replace(
            &mut cache.cache.coded_len_host,
            vec![planned; self.shape.batch],
        );
        let result = cache.attend(gpu, query, out);
        cache.cache.coded_len_host = saved;
        Ok(result?)
    }

    fn save_host(&mut self) {
        self.saved = self
            .layers
            .iter()
            .map(|l| {
                (
                    l.cache.total_len_host.clone(),
                    l.cache.coded_len_host.clone(),
                    l.cache.parity,
                )
            })
            .collect();
    }

    fn restore_host(&mut self) {
        for (layer, (total, coded, parity)) in self.layers.iter_mut().zip(self.saved.drain(..)) {
            layer.cache.total_len_host = total;
            layer.cache.coded_len_host = coded;
            layer.cache.parity = parity;
        }
    }

    fn replayed(&mut self) {
        for layer in &mut self.layers {
            let c = &mut layer.cache;
            c.total_len_host.iter_mut().for_each(|n| *n += 1);
            c.coded_len_host = c
                .total_len_host
                .iter()
                .map(|&n| coded_tokens(self.layout, n))
                .collect();
            c.parity ^= 1;
        }
    }

    fn fill_for_benchmark(
        &mut self,
        gpu: &Gpu,
        kernels: &ForwardKernels,
        len: usize,
    ) -> Result<()> {
        let b = self.shape.batch;
        let coded = coded_tokens(self.layout, len);
        let fp16 = len - coded;
        let st = &gpu.stream;
        for (i, layer) in self.layers.iter_mut().enumerate() {
            let c = &mut layer.cache;
            let seed = 4 * i as u32 + 1;
            kernels.fill_random(st, &mut c.key_codes, seed, false)?;
            kernels.fill_random(st, &mut c.value_codes, seed + 1, false)?;
            kernels.fill_random(st, &mut c.fp16_keys, seed + 2, true)?;
            kernels.fill_random(st, &mut c.fp16_values, seed + 3, true)?;
            st.memcpy_htod(&vec![coded as i32; b], &mut c.coded_len)?;
            st.memcpy_htod(&vec![fp16 as i32; b], &mut c.fp16_len)?;
            let parity = c.parity;
            st.memcpy_htod(&vec![len as i32; b], &mut c.total_len[parity])?;
            c.total_len_host = vec![len; b];
            c.coded_len_host = vec![coded; b];
        }
        Ok(())
    }

    fn device_bytes(&self) -> usize {
        self.layers
            .iter()
            .map(|l| {
                let c = &l.cache;
                c.key_codes.len()
                    + c.value_codes.len()
                    + 2 * (c.fp16_keys.len() + c.fp16_values.len())
                    + 2 * (c.key_codebooks.len() + c.value_codebooks.len())
            })
            .sum()
    }

    fn bytes_read_per_step(&self, len: usize) -> usize {
        let s = self.shape;
        let coded = coded_tokens(self.layout, len);
        let fp16 = len - coded;
        let row = self.config.key_row_bytes() + self.config.value_row_bytes();
        s.layers * s.batch * s.kv_heads * (coded * row + fp16 * s.head_dim * 2 * 2)
    }
}
