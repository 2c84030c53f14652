//! The KV cache behind one trait, per layer: append a decode step's K/V for a batch of
//! sequences, attend a query batch; each call takes device buffers and runs on the engine's
//! stream. Two backends: [`Fp16Cache`] (the baseline, here) and `vq::VqCache`.

use crate::engine::TokenWrites;
use crate::error::{EngineError, Result};
use crate::kernels::{DecodeSplit, ForwardKernels};
use cudarc::driver::CudaSlice;
use vecinfer_runtime::{Gpu, SlotShape, TokenSlots};

/// The tensor shape both backends share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheShape {
    pub layers: usize,
    pub batch: usize,
    pub q_heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    /// Tokens per sequence the cache holds at most.
    pub capacity: usize,
}

pub trait KvCache {
    /// One line: kind, codecs, layout.
    fn describe(&self) -> String;

    fn shape(&self) -> CacheShape;

    /// Takes the prompt's K and V of `layer` after the FP16 prefill: `[batch, kv_heads,
    /// tokens, D]` f16 each, positions `0..tokens` of an empty cache.
    fn load_prompt(
        &mut self,
        gpu: &Gpu,
        layer: usize,
        keys: &CudaSlice<u16>,
        values: &CudaSlice<u16>,
        tokens: usize,
    ) -> Result<()>;

    /// A decode step's K and V of `layer`, `[batch, kv_heads, D]` f16 each; sequence `s`'s
    /// token is at position `positions[s]` (on the device).
    fn append(
        &mut self,
        gpu: &Gpu,
        layer: usize,
        keys: &CudaSlice<u16>,
        values: &CudaSlice<u16>,
        positions: &CudaSlice<i32>,
    ) -> Result<()>;

    /// Begins a decode step whose new K and V the QKV projection writes into the cache itself
    /// (into [`Self::token_slots`], in place of [`Self::append`]): what else the appends of
    /// the step did runs here, for every layer at once (the VQ cache encodes the tokens that
    /// leave the fp16 windows; the FP16 cache has nothing to do). `false`: this cache takes a
    /// step's tokens through `append` only (a VQ cache without an fp16 window encodes each
    /// token as it arrives).
    fn begin_written_step(&mut self, gpu: &Gpu) -> Result<bool>;

    /// How this cache's steps are fastest (measured, `bench/results/model-s11/`): the
    /// session's default unless `VECINFER_TOKEN_WRITES` says otherwise.
    fn preferred_token_writes(&self) -> TokenWrites;

    /// Whether [`Self::begin_written_step`] takes the projection's writes (it returns `true`).
    fn takes_projection_writes(&self) -> bool;

    /// Where `layer`'s new K and V of the step [`Self::begin_written_step`] began go.
    fn token_slots(&mut self, layer: usize) -> Result<TokenSlots<'_>>;

    /// Attention of `query` `[batch, q_heads, D]` f16 over `layer`'s cache into `out` (same
    /// shape). Launch geometry covers sequences of up to `plan_len` tokens: the current
    /// length, or more when the launch is captured into a graph replayed over later steps.
    fn attend(
        &mut self,
        gpu: &Gpu,
        layer: usize,
        query: &CudaSlice<u16>,
        out: &mut CudaSlice<u16>,
        positions: &CudaSlice<i32>,
        plan_len: usize,
    ) -> Result<()>;

    /// Host-side bookkeeping around graph capture: a captured step's launches change the
    /// host state as if they had run; `restore_host` undoes that.
    fn save_host(&mut self);
    fn restore_host(&mut self);

    /// The host side of one decode step whose launches ran as a replayed graph.
    fn replayed(&mut self) -> Result<()>;

    /// Before capturing graphs that will be replayed `horizon` times (outside the capture),
    /// whose launches are planned for `plan_len` tokens (see [`Self::attend`]): a cache that
    /// needs host work per step or uploads per plan does it for the whole horizon here.
    fn prepare_graphs(&mut self, _gpu: &Gpu, _horizon: usize, _plan_len: usize) -> Result<()> {
        Ok(())
    }

    /// Eager steps follow: undo what `prepare_graphs` set up.
    fn leave_graphs(&mut self) {}

    /// Launches the cache's append and attention kernels as programmatic dependents of the
    /// kernel before each (sm_90 and later): see `vecinfer_runtime::dependent_launch`.
    fn set_dependent_launches(&mut self, gpu: &Gpu, on: bool) -> Result<()>;

    /// Sequence `i` holds `lengths[i]` tokens of noise (benchmarks: speed does not depend on
    /// the values).
    fn fill_for_benchmark(
        &mut self,
        gpu: &Gpu,
        kernels: &ForwardKernels,
        lengths: &[usize],
    ) -> Result<()>;

    /// GPU bytes the cache holds.
    fn device_bytes(&self) -> usize;

    /// Bytes one decode step's attention reads over all layers, every sequence `len` tokens
    /// long.
    fn bytes_read_per_step(&self, len: usize) -> usize;

    /// Everything batch entry `entry` holds in `layer`, as bytes, for checks: entries fed the
    /// same tokens must hold the same bytes wherever they sit in the batch.
    fn entry_contents(&self, gpu: &Gpu, layer: usize, entry: usize) -> Result<Vec<u8>>;
}

/// Checks that `entry` and `layer` index a cache of `shape`.
pub(crate) fn check_entry(shape: &CacheShape, layer: usize, entry: usize) -> Result<()> {
    if layer >= shape.layers || entry >= shape.batch {
        return Err(EngineError::Invalid(format!(
            "layer {layer}, entry {entry}: the cache has {} layers and {} batch entries",
            shape.layers, shape.batch
        )));
    }
    Ok(())
}

/// The FP16 cache: `[batch, kv_heads, capacity, D]` K and V per layer, token `i` in slot `i`,
/// lengths = the engine's positions. Decode attention is the split-K kernel of
/// `forward.cuh`, GQA group in one block.
pub struct Fp16Cache {
    kernels: ForwardKernels,
    shape: CacheShape,
    sm_count: usize,
    keys: Vec<CudaSlice<u16>>,
    values: Vec<CudaSlice<u16>>,
    /// Split scratch, sized for the largest plan over the capacity.
    partial: CudaSlice<f32>,
    zeros: CudaSlice<i32>,
}

impl Fp16Cache {
    pub fn new(gpu: &Gpu, kernels: &ForwardKernels, shape: CacheShape) -> Result<Self> {
        let c = kernels.config;
        if shape.head_dim != c.head_dim || shape.q_heads != shape.kv_heads * c.group {
            return Err(EngineError::Invalid(format!(
                "forward kernels for head dim {} and group {}, cache of head dim {} with {} query and {} KV heads",
                c.head_dim, c.group, shape.head_dim, shape.q_heads, shape.kv_heads
            )));
        }
        let st = &gpu.stream;
        let per_layer = shape.batch * shape.kv_heads * shape.capacity * shape.head_dim;
        let mut keys = Vec::with_capacity(shape.layers);
        let mut values = Vec::with_capacity(shape.layers);
        for _ in 0..shape.layers {
            keys.push(st.alloc_zeros::<u16>(per_layer)?);
            values.push(st.alloc_zeros::<u16>(per_layer)?);
        }
        let sm_count = gpu.sm_count as usize;
        let splits =
            kernels.max_decode_splits(sm_count, shape.batch * shape.kv_heads, shape.capacity);
        let rows = shape.batch * shape.q_heads;
        Ok(Self {
            partial: st.alloc_zeros::<f32>(rows * splits * (shape.head_dim + 2))?,
            zeros: st.alloc_zeros::<i32>(shape.batch)?,
            kernels: kernels.clone(),
            shape,
            sm_count,
            keys,
            values,
        })
    }

    pub fn plan(&self, len: usize) -> DecodeSplit {
        self.kernels.decode_split(
            self.sm_count,
            self.shape.batch * self.shape.kv_heads,
            len.min(self.shape.capacity),
        )
    }

    /// Layer `layer`'s K and V buffers (for checks).
    pub fn layer_buffers(&self, layer: usize) -> (&CudaSlice<u16>, &CudaSlice<u16>) {
        (&self.keys[layer], &self.values[layer])
    }
}

impl KvCache for Fp16Cache {
    fn describe(&self) -> String {
        format!(
            "fp16 (split-K decode attention, {} warps, unroll {})",
            self.kernels.config.decode_warps, self.kernels.config.decode_unroll
        )
    }

    fn set_dependent_launches(&mut self, gpu: &Gpu, on: bool) -> Result<()> {
        let on = vecinfer_runtime::dependent_launch::checked_setting(gpu, on)?;
        self.kernels.set_dependent_launches(on);
        Ok(())
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
        let s = self.shape;
        if tokens > s.capacity {
            return Err(EngineError::Invalid(format!(
                "a prompt of {tokens} tokens does not fit a cache of {} tokens per sequence",
                s.capacity
            )));
        }
        self.kernels.kv_append(
            &gpu.stream,
            (keys, values),
            (&mut self.keys[layer], &mut self.values[layer]),
            &self.zeros,
            (s.batch, s.kv_heads, tokens),
            s.capacity,
        )
    }

    fn append(
        &mut self,
        gpu: &Gpu,
        layer: usize,
        keys: &CudaSlice<u16>,
        values: &CudaSlice<u16>,
        positions: &CudaSlice<i32>,
    ) -> Result<()> {
        let s = self.shape;
        self.kernels.kv_append(
            &gpu.stream,
            (keys, values),
            (&mut self.keys[layer], &mut self.values[layer]),
            positions,
            (s.batch, s.kv_heads, 1),
            s.capacity,
        )
    }

    // Token p of a sequence in slot p (sinks = capacity, no ring); lengths are the positions.
    fn begin_written_step(&mut self, _gpu: &Gpu) -> Result<bool> {
        Ok(true)
    }

    fn takes_projection_writes(&self) -> bool {
        true
    }

    // The append is one copy that overlaps its neighbours (dependent launches); on the H100
    // the projection's writes were 6% slower at 4 × 8192 and within 1% elsewhere.
    fn preferred_token_writes(&self) -> TokenWrites {
        TokenWrites::Append
    }

    fn token_slots(&mut self, layer: usize) -> Result<TokenSlots<'_>> {
        let s = self.shape;
        check_entry(&s, layer, 0)?;
        Ok(TokenSlots::new(
            self.keys[layer].as_view_mut(),
            self.values[layer].as_view_mut(),
            None,
            SlotShape {
                slots: s.batch,
                kv_heads: s.kv_heads,
                capacity: s.capacity,
                head_dim: s.head_dim,
                sinks: s.capacity,
                residual: 0,
                precision: vecinfer_quant::WindowPrecision::Fp16,
            },
        )?)
    }

    fn attend(
        &mut self,
        gpu: &Gpu,
        layer: usize,
        query: &CudaSlice<u16>,
        out: &mut CudaSlice<u16>,
        positions: &CudaSlice<i32>,
        plan_len: usize,
    ) -> Result<()> {
        let s = self.shape;
        let plan = self.plan(plan_len);
        self.kernels.decode_attention(
            &gpu.stream,
            query,
            (&self.keys[layer], &self.values[layer]),
            positions,
            &mut self.partial,
            out,
            (s.batch, s.kv_heads, s.capacity),
            plan,
        )
    }

    fn save_host(&mut self) {}
    fn restore_host(&mut self) {}
    fn replayed(&mut self) -> Result<()> {
        Ok(())
    }

    fn fill_for_benchmark(
        &mut self,
        gpu: &Gpu,
        kernels: &ForwardKernels,
        _lengths: &[usize],
    ) -> Result<()> {
        for (i, (k, v)) in self.keys.iter_mut().zip(&mut self.values).enumerate() {
            kernels.fill_random(&gpu.stream, &mut k.as_view_mut(), 2 * i as u32 + 1, true)?;
            kernels.fill_random(&gpu.stream, &mut v.as_view_mut(), 2 * i as u32 + 2, true)?;
        }
        Ok(())
    }

    fn device_bytes(&self) -> usize {
        let s = self.shape;
        2 * 2 * s.layers * s.batch * s.kv_heads * s.capacity * s.head_dim
            + 4 * self.partial.len()
            + 4 * self.zeros.len()
    }

    fn bytes_read_per_step(&self, len: usize) -> usize {
        let s = self.shape;
        2 * 2 * s.layers * s.batch * s.kv_heads * len * s.head_dim
    }

    fn entry_contents(&self, gpu: &Gpu, layer: usize, entry: usize) -> Result<Vec<u8>> {
        let s = self.shape;
        check_entry(&s, layer, entry)?;
        let per_entry = s.kv_heads * s.capacity * s.head_dim;
        let range = entry * per_entry..(entry + 1) * per_entry;
        let mut bytes = Vec::with_capacity(4 * per_entry);
        for buffer in [&self.keys[layer], &self.values[layer]] {
            let halves = gpu.stream.clone_dtoh(&buffer.slice(range.clone()))?;
            bytes.extend(halves.iter().flat_map(|h| h.to_le_bytes()));
        }
        Ok(bytes)
    }
}
