//! The fused VQ decode attention: a compiled kernel pair (attention + split merge) and its launch.

use crate::compile::compile;
use crate::error::{Result, RuntimeError};
use crate::gpu::Gpu;
use crate::kv_cache::GpuKvCache;
use cudarc::driver::sys::CUfunction_attribute;
use cudarc::driver::{CudaFunction, CudaSlice, LaunchConfig, PushKernelArg};
use vecinfer_codegen::{EmittedKernel, KernelConfig, SplitPolicy, emit};

pub struct VqAttention {
    pub kernel: EmittedKernel,
    attention: CudaFunction,
    merge: CudaFunction,
    /// Blocks of the attention kernel one SM holds at once (registers, shared memory), as
    /// the occupancy API reports it: 0 means a block does not fit.
    pub blocks_per_sm: u32,
}

/// Scratch for the split merge, sized for the largest launch so far.
#[derive(Default)]
pub struct Workspace {
    partial_out: Option<CudaSlice<f32>>,
    partial_max: Option<CudaSlice<f32>>,
    partial_sum: Option<CudaSlice<f32>>,
    rows: usize,
}

/// Splits and the coded tokens each covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitPlan {
    pub splits: u32,
    pub tokens_per_split: u32,
}

impl VqAttention {
    /// Validates the config for this GPU, generates, compiles (cached) and loads it.
    pub fn new(gpu: &Gpu, config: &KernelConfig) -> Result<Self> {
        Self::load(gpu, emit(config, gpu.arch)?)
    }

    /// Compiles (cached) and loads already generated source, e.g. embedded by the proc macros
    /// (generated for some arch: its config is validated for this GPU's).
    pub fn from_emitted(gpu: &Gpu, kernel: EmittedKernel) -> Result<Self> {
        kernel.config.validate(gpu.arch)?;
        Self::load(gpu, kernel)
    }

    /// Compiles and loads a kernel whose config was validated for `gpu`.
    fn load(gpu: &Gpu, kernel: EmittedKernel) -> Result<Self> {
        let config = &kernel.config;
        if kernel.shared_bytes > gpu.max_shared_per_block {
            return Err(RuntimeError::Invalid(format!(
                "{config}: shared memory {} KB > {} KB on {}",
                kernel.shared_bytes / 1024,
                gpu.max_shared_per_block / 1024,
                gpu.name
            )));
        }
        let ptx = compile(&kernel.source, gpu.arch, &kernel.attention_entry)?;
        let module = gpu.context.load_module(ptx)?;
        let attention = module.load_function(&kernel.attention_entry)?;
        let merge = module.load_function(&kernel.merge_entry)?;
        attention.set_attribute(
            CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
            kernel.shared_bytes as i32,
        )?;
        let blocks_per_sm = attention.occupancy_max_active_blocks_per_multiprocessor(
            kernel.block_threads,
            kernel.shared_bytes as usize,
            None,
        )?;
        Ok(Self {
            kernel,
            attention,
            merge,
            blocks_per_sm,
        })
    }

    /// Registers per thread and spilled bytes (local memory) of the attention kernel.
    pub fn resources(&self) -> Result<(i32, i32)> {
        Ok((
            self.attention.num_regs()?,
            self.attention.local_size_bytes()?,
        ))
    }

    pub fn plan(&self, gpu: &Gpu, cache: &GpuKvCache) -> SplitPlan {
        let tile = self.kernel.config.tile_tokens;
        let longest = cache
            .coded_len_host
            .iter()
            .copied()
            .max()
            .unwrap_or(0)
            .max(1);
        let max_splits = longest.div_ceil(tile).max(1);
        let wanted = match self.kernel.config.split {
            SplitPolicy::Fixed(n) => n as usize,
            SplitPolicy::Auto => {
                // Whole waves: with fewer (sequence, KV head) pairs than resident block slots,
                // split so that the blocks fill at most two waves exactly.
                let slots = gpu.sm_count as usize * self.blocks_per_sm.max(1) as usize;
                let heads = cache.shape.batch * cache.shape.kv_heads;
                if heads >= slots { 1 } else { 2 * slots / heads }
            }
        };
        let splits = wanted.clamp(1, max_splits);
        let tokens_per_split = longest.div_ceil(splits).next_multiple_of(tile);
        SplitPlan {
            splits: longest.div_ceil(tokens_per_split) as u32,
            tokens_per_split: tokens_per_split as u32,
        }
    }

    /// One decode step: `query` is `[batch, q_heads, head_dim]` f16, `out` the same shape in the
    /// config's output dtype (fp16 or bf16 bits).
    pub fn attend(
        &self,
        gpu: &Gpu,
        cache: &GpuKvCache,
        query: &CudaSlice<u16>,
        out: &mut CudaSlice<u16>,
        workspace: &mut Workspace,
    ) -> Result<()> {
        let c = &self.kernel.config;
        let s = cache.shape;
        if s.head_dim != c.head_dim || s.group() != c.group {
            return Err(RuntimeError::Invalid(format!(
                "kernel {c} is for head dim {} and group {}, the cache has head dim {} and group {}",
                c.head_dim,
                c.group,
                s.head_dim,
                s.group()
            )));
        }
        let elements = s.batch * s.q_heads * s.head_dim;
        if query.len() != elements || out.len() != elements {
            return Err(RuntimeError::Invalid(format!(
                "query and output must hold batch × q_heads × head_dim = {elements} values, got {} and {}",
                query.len(),
                out.len()
            )));
        }
        let plan = self.plan(gpu, cache);
        let rows = s.batch * s.q_heads * plan.splits as usize;
        if workspace.rows < rows {
            workspace.partial_out = Some(gpu.stream.alloc_zeros::<f32>(rows * s.head_dim)?);
            workspace.partial_max = Some(gpu.stream.alloc_zeros::<f32>(rows)?);
            workspace.partial_sum = Some(gpu.stream.alloc_zeros::<f32>(rows)?);
            workspace.rows = rows;
        }
        let (po, pm, ps) = (
            workspace.partial_out.as_mut().expect("allocated above"),
            workspace.partial_max.as_mut().expect("allocated above"),
            workspace.partial_sum.as_mut().expect("allocated above"),
        );
        let code_capacity = cache.code_capacity as i32;
        let fp16_capacity = cache.fp16_capacity as i32;
        let tokens_per_split = plan.tokens_per_split as i32;
        let mut launch = gpu.stream.launch_builder(&self.attention);
        launch
            .arg(query)
            .arg(&cache.key_codes)
            .arg(&cache.value_codes)
            .arg(&cache.key_codebooks)
            .arg(&cache.value_codebooks)
            .arg(&cache.smooth)
            .arg(&cache.fp16_keys)
            .arg(&cache.fp16_values)
            .arg(&cache.coded_len)
            .arg(&cache.fp16_len)
            .arg(&mut *po)
            .arg(&mut *pm)
            .arg(&mut *ps)
            .arg(&code_capacity)
            .arg(&fp16_capacity)
            .arg(&tokens_per_split);
        let config = LaunchConfig {
            grid_dim: (plan.splits, s.kv_heads as u32, s.batch as u32),
            block_dim: (self.kernel.block_threads, 1, 1),
            shared_mem_bytes: self.kernel.shared_bytes,
        };
        // SAFETY: argument types and order match the generated signature; every buffer holds
        // the sizes the kernel indexes (checked above and by GpuKvCache's construction).
        unsafe { launch.launch(config) }?;
        let splits = plan.splits as i32;
        let mut merge = gpu.stream.launch_builder(&self.merge);
        merge.arg(&*po).arg(&*pm).arg(&*ps).arg(out).arg(&splits);
        let config = LaunchConfig {
            grid_dim: ((s.batch * s.q_heads) as u32, 1, 1),
            block_dim: (self.kernel.merge_threads, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: as above, for the merge kernel's signature.
        unsafe { merge.launch(config) }?;
        Ok(())
    }
}
