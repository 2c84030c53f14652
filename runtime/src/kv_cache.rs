//! [`GpuKvCache`]: one layer's quantized KV cache in the contiguous layout, a fixed batch of
//! sequences with a fixed capacity each. Used to check kernels against the CPU reference, to
//! time them, and by [`crate::VqKvCache`]; engines that need sequences of any length use
//! [`crate::PagedKvCache`].

use crate::append::VqAppend;
use crate::error::{Result, RuntimeError};
use crate::gpu::Gpu;
use crate::spec::CacheSpec;
use crate::storage::LayerStorage;
use crate::view::{CacheView, CacheViewMut, DeviceBatch, HostBatch};
use cudarc::driver::CudaSlice;
use half::f16;
use vecinfer_codegen::KernelConfig;
use vecinfer_quant::{CacheLayout, DecodeShape, LayerParams, ReferenceKvCache};

pub struct GpuKvCache {
    shape: DecodeShape,
    storage: LayerStorage,
    /// Batch entry `b` is sequence slot `b`; its length on the device and the host.
    batch: DeviceBatch,
}

/// Code rows needed for `total` tokens.
pub fn coded_tokens(layout: CacheLayout, total: usize) -> usize {
    total.saturating_sub(layout.sinks + layout.residual)
}

impl GpuKvCache {
    /// An empty cache for up to `max_tokens` tokens per sequence, filled by
    /// [`Self::append`].
    pub fn empty(
        gpu: &Gpu,
        params: &LayerParams<'_>,
        shape: DecodeShape,
        layout: CacheLayout,
        max_tokens: usize,
    ) -> Result<Self> {
        shape.validate()?;
        check_params_shape(params, shape)?;
        let storage = LayerStorage::contiguous(
            gpu,
            params,
            layout,
            shape.batch,
            coded_tokens(layout, max_tokens),
        )?;
        let batch = DeviceBatch::new(gpu, &in_order(&vec![0; shape.batch]))?;
        Ok(Self {
            shape,
            storage,
            batch,
        })
    }

    /// Uploads the state of a CPU reference cache (used to check kernels against it, and to
    /// move a cache filled on the host).
    pub fn from_reference(gpu: &Gpu, cpu: &ReferenceKvCache<'_>) -> Result<Self> {
        Self::from_reference_with_room(gpu, cpu, 0)
    }

    /// [`Self::from_reference`] with room for `extra` more tokens per sequence.
    pub fn from_reference_with_room(
        gpu: &Gpu,
        cpu: &ReferenceKvCache<'_>,
        extra: usize,
    ) -> Result<Self> {
        let shape = cpu.shape();
        let layout = cpu.layout();
        let lengths: Vec<usize> = (0..shape.batch).map(|s| cpu.len(s)).collect();
        let longest = lengths.iter().copied().max().unwrap_or(0) + extra;
        let mut cache = Self::empty(gpu, cpu.params(), shape, layout, longest)?;
        let spec = *cache.storage.spec();
        let (hk, d) = (shape.kv_heads, shape.head_dim);
        let (krow, vrow) = (spec.key_row_bytes(), spec.value_row_bytes());
        let mut key_codes = vec![0u8; cache.storage.key_codes.len()];
        let mut value_codes = vec![0u8; cache.storage.value_codes.len()];
        let slots = spec.slot_layout(cache.storage.slots());
        let mut slot_keys = vec![0u16; slots.len()];
        let mut slot_values = vec![0u16; slots.len()];
        for seq in 0..shape.batch {
            let sinks = cpu.sink_len(seq);
            let coded = cpu.quantized_len(seq);
            for h in 0..hk {
                let at = cache.storage.contiguous_row(seq, h, 0);
                let k = cpu.key_codes(seq, h);
                key_codes[at * krow..][..k.len()].copy_from_slice(k);
                let v = cpu.value_codes(seq, h);
                value_codes[at * vrow..][..v.len()].copy_from_slice(v);
                // Sinks in their slots, window tokens in their ring slots.
                let (fk, fv) = (cpu.fp16_keys(seq, h), cpu.fp16_values(seq, h));
                let scales = cpu.slot_scales(seq, h);
                for (n, (k, v)) in fk.chunks_exact(d).zip(fv.chunks_exact(d)).enumerate() {
                    let index = cache
                        .storage
                        .fp16_row(seq, h, spec.fp16_slot(n, sinks, coded));
                    let (ks, vs) = scales.get(n).copied().unzip();
                    slots.put(&mut slot_keys, index, k, ks);
                    slots.put(&mut slot_values, index, v, vs);
                }
            }
        }
        let st = &gpu.stream;
        st.memcpy_htod(&key_codes, &mut cache.storage.key_codes)?;
        st.memcpy_htod(&value_codes, &mut cache.storage.value_codes)?;
        st.memcpy_htod(&slot_keys, &mut cache.storage.slot_keys)?;
        st.memcpy_htod(&slot_values, &mut cache.storage.slot_values)?;
        cache.batch.set(gpu, &in_order(&lengths))?;
        Ok(cache)
    }

    pub fn shape(&self) -> DecodeShape {
        self.shape
    }

    pub fn spec(&self) -> &CacheSpec {
        self.storage.spec()
    }

    pub fn storage(&self) -> &LayerStorage {
        &self.storage
    }

    /// Tokens of sequence `seq`.
    pub fn len(&self, seq: usize) -> usize {
        self.batch.lengths.get(seq).copied().unwrap_or(0)
    }

    pub fn is_empty(&self, seq: usize) -> bool {
        self.len(seq) == 0
    }

    /// Coded tokens of sequence `seq`.
    pub fn coded_len(&self, seq: usize) -> usize {
        self.spec().coded_tokens(self.len(seq))
    }

    pub fn lengths(&self) -> &[usize] {
        self.batch.lengths()
    }

    /// Coded tokens each sequence has room for.
    pub fn code_capacity(&self) -> usize {
        self.storage.code_capacity().unwrap_or(0)
    }

    pub fn view(&self) -> CacheView<'_> {
        CacheView::new(&self.storage, &self.batch)
    }

    /// Appends `count` tokens to every sequence (`keys` and `values` are `[batch, kv_heads,
    /// count, head_dim]` f16) with `appender`. Fails, leaving the cache as it was, if a
    /// sequence would outgrow its capacity or the appender is for another cache.
    pub fn append(
        &mut self,
        gpu: &Gpu,
        appender: &VqAppend,
        keys: &CudaSlice<u16>,
        values: &CudaSlice<u16>,
        count: usize,
    ) -> Result<()> {
        self.spec().check(appender.config())?;
        let spec = *self.spec();
        let after: Vec<usize> = self.batch.lengths.iter().map(|&n| n + count).collect();
        let longest = after.iter().copied().max().unwrap_or(0);
        if spec.coded_tokens(longest) > self.code_capacity() {
            return Err(RuntimeError::Invalid(format!(
                "appending {count} tokens would make a sequence {longest} tokens long; the cache holds at most {} coded tokens (+ {} sinks + {} window) per sequence",
                self.code_capacity(),
                spec.window.sinks,
                spec.window.residual
            )));
        }
        crate::view::as_i32("sequence length", [longest])?;
        let elements = self.shape.batch * spec.kv_heads * count * spec.head_dim;
        if count == 0 || keys.len() != elements || values.len() != elements {
            return Err(RuntimeError::BufferLength {
                what: "keys and values",
                expected: format!(
                    "batch × kv_heads × count × head_dim = {} × {} × {count} × {} = {elements} each (count ≥ 1)",
                    self.shape.batch, spec.kv_heads, spec.head_dim
                ),
                got: keys.len().min(values.len()),
            });
        }
        let entries = self.shape.batch;
        appender.advance_lengths(gpu, self.batch.seq_len_mut(), entries, count)?;
        self.batch.lengths = after;
        let mut view = CacheViewMut::new(&mut self.storage, &self.batch);
        view.appended = Some(count);
        // The advance above is the stream's previous kernel: the append may start beside it.
        let dependent = crate::dependent_launch::supports_dependent_launches(gpu.arch);
        appender.launch_as(gpu, view, keys, values, count, dependent)
    }

    /// The coded rows of (sequence, KV head), keys and values, in token order (for checks).
    pub fn download_rows(
        &self,
        gpu: &Gpu,
        seq: usize,
        kv_head: usize,
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        let spec = self.spec();
        let (krow, vrow) = (spec.key_row_bytes(), spec.value_row_bytes());
        let (coded, at) = (
            self.coded_len(seq),
            self.storage.contiguous_row(seq, kv_head, 0),
        );
        let st = &gpu.stream;
        Ok((
            st.clone_dtoh(&self.storage.key_codes.slice(at * krow..(at + coded) * krow))?,
            st.clone_dtoh(
                &self
                    .storage
                    .value_codes
                    .slice(at * vrow..(at + coded) * vrow),
            )?,
        ))
    }

    /// The slots of (sequence, KV head), keys and values, `[sinks + residual, head_dim]`,
    /// as the kernels read them (an int8 window's rows decoded to `f16(q · scale)`), as fp16
    /// bits (for checks).
    pub fn download_fp16(
        &self,
        gpu: &Gpu,
        seq: usize,
        kv_head: usize,
    ) -> Result<(Vec<u16>, Vec<u16>)> {
        self.storage.download_slots(gpu, seq, kv_head)
    }
}

impl<'a> From<&'a GpuKvCache> for CacheView<'a> {
    fn from(cache: &'a GpuKvCache) -> Self {
        cache.view()
    }
}

/// Batch entry `b` = slot `b`, with the given lengths.
fn in_order(lengths: &[usize]) -> HostBatch {
    HostBatch {
        lengths: lengths.to_vec(),
        slots: (0..lengths.len()).collect(),
        page_indptr: Vec::new(),
        page_indices: Vec::new(),
    }
}

/// One length per sequence of `shape`'s batch.
pub(crate) fn check_lengths(lengths: &[usize], shape: DecodeShape) -> Result<()> {
    if lengths.len() != shape.batch {
        return Err(RuntimeError::Invalid(format!(
            "{} sequence lengths for a batch of {}: give one per sequence",
            lengths.len(),
            shape.batch
        )));
    }
    Ok(())
}

pub(crate) fn check_params_shape(params: &LayerParams<'_>, shape: DecodeShape) -> Result<()> {
    if shape.kv_heads != params.kv_heads || shape.head_dim != params.head_dim {
        return Err(RuntimeError::Invalid(format!(
            "the codebooks are for {} KV heads of dim {}, the shape has {} of dim {}",
            params.kv_heads, params.head_dim, shape.kv_heads, shape.head_dim
        )));
    }
    Ok(())
}

/// Random bytes and fp16 values for timing: the kernels' speed does not depend on the values.
pub(crate) struct Filler(pub(crate) u64);

impl Filler {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
    pub(crate) fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n.div_ceil(8))
            .flat_map(|_| self.next().to_le_bytes())
            .take(n)
            .collect()
    }
    /// fp16 values in [-1, 1).
    pub(crate) fn halves(&mut self, n: usize) -> Vec<u16> {
        (0..n)
            .map(|_| {
                f16::from_f32((self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0).to_bits()
            })
            .collect()
    }
    /// Random codes and fp16 tokens into `storage`.
    pub(crate) fn fill(&mut self, gpu: &Gpu, storage: &mut LayerStorage) -> Result<()> {
        let st = &gpu.stream;
        let (k, v) = (storage.key_codes.len(), storage.value_codes.len());
        st.memcpy_htod(&self.bytes(k), &mut storage.key_codes)?;
        st.memcpy_htod(&self.bytes(v), &mut storage.value_codes)?;
        let n = storage.slot_keys.len();
        st.memcpy_htod(&self.halves(n), &mut storage.slot_keys)?;
        st.memcpy_htod(&self.halves(n), &mut storage.slot_values)?;
        Ok(())
    }
}

impl GpuKvCache {
    /// A cache of random codes and fp16 tokens, every sequence `coded` coded plus `fp16` fp16
    /// tokens long (a window of `fp16`, no sinks), with room for `room` more tokens; for
    /// benchmarks (correctness is checked with [`Self::from_reference`]).
    pub fn random(
        gpu: &Gpu,
        shape: DecodeShape,
        config: &KernelConfig,
        (coded, fp16, room): (usize, usize, usize),
        seed: u64,
    ) -> Result<Self> {
        let lengths = vec![coded + fp16; shape.batch];
        Self::random_with_lengths(gpu, shape, config, (&lengths, fp16, room), seed)
    }

    /// [`Self::random`] with a length per sequence (`lengths[b]` tokens, the newest `window`
    /// of them in fp16), room for `room` more tokens past the longest.
    pub fn random_with_lengths(
        gpu: &Gpu,
        shape: DecodeShape,
        config: &KernelConfig,
        (lengths, window, room): (&[usize], usize, usize),
        seed: u64,
    ) -> Result<Self> {
        check_lengths(lengths, shape)?;
        let longest = lengths.iter().copied().max().unwrap_or(0);
        let set = crate::verify::random_books(config, shape.kv_heads, shape.head_dim, seed);
        let params = set.layer(0, config.transform)?;
        let layout = CacheLayout {
            sinks: 0,
            residual: window,
            ..CacheLayout::default()
        };
        let mut cache = Self::empty(gpu, &params, shape, layout, longest + room)?;
        Filler(seed).fill(gpu, &mut cache.storage)?;
        cache.batch.set(gpu, &in_order(lengths))?;
        Ok(cache)
    }

    /// Bytes one decode step must read from memory: codes and fp16 tokens of every sequence.
    pub fn bytes_per_step(&self, config: &KernelConfig) -> usize {
        step_bytes(
            config,
            self.spec(),
            self.batch
                .lengths
                .iter()
                .map(|&n| self.spec().coded_tokens(n)),
            self.shape.batch,
        )
    }
}

/// Bytes a decode step reads: the coded rows of every sequence and its fp16 slots.
pub(crate) fn step_bytes(
    config: &KernelConfig,
    spec: &CacheSpec,
    coded: impl Iterator<Item = usize>,
    sequences: usize,
) -> usize {
    let per_head_coded: usize =
        coded.sum::<usize>() * (config.key_row_bytes() + config.value_row_bytes());
    let fp16_tokens = spec.fp16_capacity() * sequences;
    spec.kv_heads * (per_head_coded + fp16_tokens * spec.slot_row_bytes() * 2)
}
