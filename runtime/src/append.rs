//! Quantize-and-append on the GPU: new tokens into a [`GpuKvCache`] by the CPU reference's
//! rules (sinks, fp16 window, flush of the oldest window token into codes), and bulk prefill.

use crate::compile::compile;
use crate::error::{Result, RuntimeError};
use crate::gpu::Gpu;
use crate::kv_cache::{GpuKvCache, coded_tokens};
use cudarc::driver::{CudaFunction, CudaSlice, LaunchConfig, PushKernelArg};
use vecinfer_codegen::{EmittedAppend, KernelConfig, emit_append};

pub struct VqAppend {
    pub kernel: EmittedAppend,
    config: KernelConfig,
    function: CudaFunction,
}

impl VqAppend {
    /// Generates and compiles (cached) the append kernel for the cache layout of `config`.
    pub fn new(gpu: &Gpu, config: &KernelConfig) -> Result<Self> {
        let kernel = emit_append(config)?;
        let ptx = compile(&kernel.source, gpu.arch, &kernel.entry)?;
        let module = gpu.context.load_module(ptx)?;
        let function = module.load_function(&kernel.entry)?;
        Ok(Self {
            kernel,
            config: *config,
            function,
        })
    }

    /// Appends `count` tokens to every sequence: `keys` and `values` are `[batch, kv_heads,
    /// count, head_dim]` f16. `count = 1` is a decode step; a larger count is a (chunked)
    /// prefill. Fails, leaving the cache as it was, if a sequence would outgrow its capacity.
    pub fn append(
        &self,
        gpu: &Gpu,
        cache: &mut GpuKvCache,
        keys: &CudaSlice<u16>,
        values: &CudaSlice<u16>,
        count: usize,
    ) -> Result<()> {
        let s = cache.shape;
        let c = &self.config;
        if s.head_dim != c.head_dim {
            return Err(RuntimeError::Invalid(format!(
                "append kernel for head dim {} used on a cache of head dim {}",
                c.head_dim, s.head_dim
            )));
        }
        let elements = s.batch * s.kv_heads * count * s.head_dim;
        if count == 0 || keys.len() != elements || values.len() != elements {
            return Err(RuntimeError::Invalid(format!(
                "keys and values must hold batch × kv_heads × count × head_dim = {} × {} × {count} × {} = {elements} values (count ≥ 1), got {} and {}",
                s.batch,
                s.kv_heads,
                s.head_dim,
                keys.len(),
                values.len()
            )));
        }
        let after: Vec<usize> = cache.total_len_host.iter().map(|&n| n + count).collect();
        let longest = after.iter().copied().max().unwrap_or(0);
        if coded_tokens(cache.layout, longest) > cache.code_capacity {
            return Err(RuntimeError::Invalid(format!(
                "appending {count} tokens would make a sequence {longest} tokens long; the cache holds at most {} coded tokens (+ {} sinks + {} window) per sequence",
                cache.code_capacity, cache.layout.sinks, cache.layout.residual
            )));
        }
        if longest > i32::MAX as usize {
            return Err(RuntimeError::Invalid(
                "sequence longer than 2^31 tokens".into(),
            ));
        }
        let ints = |x: usize| x as i32;
        let (count_i, code_capacity, fp16_capacity, sinks, residual) = (
            ints(count),
            ints(cache.code_capacity),
            ints(cache.fp16_capacity),
            ints(cache.layout.sinks),
            ints(cache.layout.residual),
        );
        let (before, rest) = cache.total_len.split_at_mut(1);
        let (len_in, len_out) = if cache.parity == 0 {
            (&before[0], &mut rest[0])
        } else {
            (&rest[0], &mut before[0])
        };
        let e = &cache.encoder;
        let mut launch = gpu.stream.launch_builder(&self.function);
        launch
            .arg(keys)
            .arg(values)
            .arg(&count_i)
            .arg(&e.key_centroids)
            .arg(&e.key_norms)
            .arg(&e.value_centroids)
            .arg(&e.value_norms)
            .arg(&cache.smooth)
            .arg(&mut cache.key_codes)
            .arg(&mut cache.value_codes)
            .arg(&mut cache.fp16_keys)
            .arg(&mut cache.fp16_values)
            .arg(len_in)
            .arg(len_out)
            .arg(&mut cache.coded_len)
            .arg(&mut cache.fp16_len)
            .arg(&code_capacity)
            .arg(&fp16_capacity)
            .arg(&sinks)
            .arg(&residual);
        let config = LaunchConfig {
            grid_dim: (count as u32, s.kv_heads as u32, s.batch as u32),
            block_dim: (self.kernel.block_threads, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: argument types and order match the generated signature; the buffers have
        // the sizes the kernel indexes (checked above and by GpuKvCache's construction).
        unsafe { launch.launch(config) }?;
        cache.parity ^= 1;
        cache.coded_len_host = after
            .iter()
            .map(|&n| coded_tokens(cache.layout, n))
            .collect();
        cache.total_len_host = after;
        Ok(())
    }
}
