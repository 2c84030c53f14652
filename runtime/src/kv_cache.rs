//! The quantized KV cache of one layer in GPU memory.
//!
//! Per (sequence, KV head), at a fixed capacity so a paged (block-table) version only changes
//! how a token index maps to an address:
//! - `key_codes`, `value_codes`: `[batch, kv_heads, code_capacity, row]` bytes (layout of
//!   `vecinfer_quant::pack`), `code_capacity` a multiple of 16 so tiles stay 16-byte aligned;
//! - `fp16_keys`, `fp16_values`: `[batch, kv_heads, fp16_capacity, head_dim]` f16: slots
//!   `[0, sinks)` hold the sinks, then a ring of `residual` slots the window (token `i` in slot
//!   `sinks + (i - sinks) % residual`; attention does not depend on the order);
//! - codebooks (f16 for attention, f32 with their squared norms for the encoder), smooth
//!   scales (f32) and the per-sequence lengths; the token count is double-buffered because
//!   the append kernel reads it in every block and writes the new one.

use crate::error::{Result, RuntimeError};
use crate::gpu::Gpu;
use cudarc::driver::CudaSlice;
use half::f16;
use vecinfer_quant::{CacheLayout, Codebook, DecodeShape, LayerParams, ReferenceKvCache};

pub struct GpuKvCache {
    pub shape: DecodeShape,
    pub layout: CacheLayout,
    pub code_capacity: usize,
    pub fp16_capacity: usize,
    pub key_codes: CudaSlice<u8>,
    pub value_codes: CudaSlice<u8>,
    pub fp16_keys: CudaSlice<u16>,
    pub fp16_values: CudaSlice<u16>,
    pub key_codebooks: CudaSlice<u16>,
    pub value_codebooks: CudaSlice<u16>,
    pub encoder: EncoderBooks,
    pub smooth: CudaSlice<f32>,
    pub coded_len: CudaSlice<i32>,
    pub fp16_len: CudaSlice<i32>,
    /// Tokens per sequence, `[2][batch]`; `total_len[parity]` is current.
    pub total_len: [CudaSlice<i32>; 2],
    pub parity: usize,
    /// Host copies of the lengths, for launch geometry and capacity checks.
    pub coded_len_host: Vec<usize>,
    pub total_len_host: Vec<usize>,
}

/// The codebooks as the encoder reads them: f32 centroids and their squared norms, summed in
/// the CPU search's order.
pub struct EncoderBooks {
    pub key_centroids: CudaSlice<f32>,
    pub key_norms: CudaSlice<f32>,
    pub value_centroids: CudaSlice<f32>,
    pub value_norms: CudaSlice<f32>,
}

fn bits(x: &[f16]) -> Vec<u16> {
    x.iter().map(|h| h.to_bits()).collect()
}

fn as_i32(v: &[usize]) -> Result<Vec<i32>> {
    v.iter()
        .map(|&x| {
            i32::try_from(x)
                .map_err(|_| RuntimeError::Invalid("sequence longer than 2^31 tokens".into()))
        })
        .collect()
}

/// Uploaded parameters of one layer: f16 codebooks, encoder codebooks, smooth scales.
struct LayerUpload {
    key_codebooks: CudaSlice<u16>,
    value_codebooks: CudaSlice<u16>,
    encoder: EncoderBooks,
    smooth: CudaSlice<f32>,
}

fn upload_params(gpu: &Gpu, params: &LayerParams<'_>) -> Result<LayerUpload> {
    let st = &gpu.stream;
    let f16_books =
        |all: &[Codebook]| -> Vec<u16> { all.iter().flat_map(|c| bits(&c.to_f16())).collect() };
    let centroids = |all: &[Codebook]| -> Vec<f32> {
        all.iter().flat_map(|c| c.centroids().to_vec()).collect()
    };
    let norms = |all: &[Codebook]| -> Vec<f32> {
        all.iter()
            .flat_map(|c| {
                let d = c.codec().sub_dim();
                c.centroids()
                    .chunks_exact(d)
                    .map(|r| r.iter().map(|v| v * v).sum::<f32>())
                    .collect::<Vec<f32>>()
            })
            .collect()
    };
    let (k, v) = (params.keys.all(), params.values.all());
    Ok(LayerUpload {
        key_codebooks: st.clone_htod(&f16_books(k))?,
        value_codebooks: st.clone_htod(&f16_books(v))?,
        encoder: EncoderBooks {
            key_centroids: st.clone_htod(&centroids(k))?,
            key_norms: st.clone_htod(&norms(k))?,
            value_centroids: st.clone_htod(&centroids(v))?,
            value_norms: st.clone_htod(&norms(v))?,
        },
        smooth: st.clone_htod(params.smooth)?,
    })
}

/// A cache's code and fp16 buffers, already on the GPU, their capacities (tokens per
/// sequence and KV head) and its per-sequence lengths.
struct Contents {
    code_capacity: usize,
    fp16_capacity: usize,
    key_codes: CudaSlice<u8>,
    value_codes: CudaSlice<u8>,
    fp16_keys: CudaSlice<u16>,
    fp16_values: CudaSlice<u16>,
    coded: Vec<usize>,
    fp16: Vec<usize>,
    total: Vec<usize>,
}

/// Code rows needed for `total` tokens.
pub fn coded_tokens(layout: CacheLayout, total: usize) -> usize {
    total.saturating_sub(layout.sinks + layout.residual)
}

impl GpuKvCache {
    /// An empty cache for up to `max_tokens` tokens per sequence, filled by
    /// [`crate::VqAppend`].
    pub fn empty(
        gpu: &Gpu,
        params: &LayerParams<'_>,
        shape: DecodeShape,
        layout: CacheLayout,
        max_tokens: usize,
    ) -> Result<Self> {
        shape.validate()?;
        let (b, hk, d) = (shape.batch, shape.kv_heads, shape.head_dim);
        let code_capacity = coded_tokens(layout, max_tokens).max(1).next_multiple_of(16);
        let fp16_capacity = (layout.sinks + layout.residual).max(1);
        let key_row = params.keys.codec().packed_bytes(d)?;
        let value_row = params.values.codec().packed_bytes(d)?;
        let st = &gpu.stream;
        let contents = Contents {
            code_capacity,
            fp16_capacity,
            key_codes: st.alloc_zeros(b * hk * code_capacity * key_row)?,
            value_codes: st.alloc_zeros(b * hk * code_capacity * value_row)?,
            fp16_keys: st.alloc_zeros(b * hk * fp16_capacity * d)?,
            fp16_values: st.alloc_zeros(b * hk * fp16_capacity * d)?,
            coded: vec![0; b],
            fp16: vec![0; b],
            total: vec![0; b],
        };
        Self::assemble(gpu, params, shape, layout, contents)
    }

    /// Uploads the state of a CPU reference cache (used to check kernels against it, and to
    /// move a cache filled on the host), with room for `extra` more tokens per sequence.
    pub fn from_reference(gpu: &Gpu, cpu: &ReferenceKvCache<'_>) -> Result<Self> {
        Self::from_reference_with_room(gpu, cpu, 0)
    }

    pub fn from_reference_with_room(
        gpu: &Gpu,
        cpu: &ReferenceKvCache<'_>,
        extra: usize,
    ) -> Result<Self> {
        let shape = cpu.shape();
        let layout = cpu.layout();
        let (b, hk, d) = (shape.batch, shape.kv_heads, shape.head_dim);
        let params = cpu.params();
        let key_row = params.keys.codec().packed_bytes(d)?;
        let value_row = params.values.codec().packed_bytes(d)?;
        let total: Vec<usize> = (0..b).map(|s| cpu.len(s)).collect();
        let coded: Vec<usize> = (0..b).map(|s| cpu.quantized_len(s)).collect();
        let fp16: Vec<usize> = (0..b).map(|s| cpu.len(s) - cpu.quantized_len(s)).collect();
        let longest = total.iter().copied().max().unwrap_or(0) + extra;
        let code_capacity = coded_tokens(layout, longest)
            .max(coded.iter().copied().max().unwrap_or(0))
            .max(1)
            .next_multiple_of(16);
        let fp16_capacity = (layout.sinks + layout.residual)
            .max(fp16.iter().copied().max().unwrap_or(0))
            .max(1);
        let mut key_codes = vec![0u8; b * hk * code_capacity * key_row];
        let mut value_codes = vec![0u8; b * hk * code_capacity * value_row];
        let mut fp16_keys = vec![0u16; b * hk * fp16_capacity * d];
        let mut fp16_values = vec![0u16; b * hk * fp16_capacity * d];
        for (s, &coded_s) in coded.iter().enumerate() {
            let sinks = cpu.sink_len(s);
            for h in 0..hk {
                let slot = s * hk + h;
                let k = cpu.key_codes(s, h);
                key_codes[slot * code_capacity * key_row..][..k.len()].copy_from_slice(k);
                let v = cpu.value_codes(s, h);
                value_codes[slot * code_capacity * value_row..][..v.len()].copy_from_slice(v);
                // Sinks in their slots, window tokens in their ring slots.
                let fk = bits(&cpu.fp16_keys(s, h));
                let fv = bits(&cpu.fp16_values(s, h));
                for (n, (k, v)) in fk.chunks_exact(d).zip(fv.chunks_exact(d)).enumerate() {
                    let at = if n < sinks {
                        n
                    } else {
                        let token = sinks + coded_s + (n - sinks);
                        sinks + (token - sinks) % layout.residual.max(1)
                    };
                    let base = (slot * fp16_capacity + at) * d;
                    fp16_keys[base..base + d].copy_from_slice(k);
                    fp16_values[base..base + d].copy_from_slice(v);
                }
            }
        }
        let st = &gpu.stream;
        let contents = Contents {
            code_capacity,
            fp16_capacity,
            key_codes: st.clone_htod(&key_codes)?,
            value_codes: st.clone_htod(&value_codes)?,
            fp16_keys: st.clone_htod(&fp16_keys)?,
            fp16_values: st.clone_htod(&fp16_values)?,
            coded,
            fp16,
            total,
        };
        Self::assemble(gpu, params, shape, layout, contents)
    }

    /// The cache around uploaded contents: the layer's parameters and the lengths join them.
    fn assemble(
        gpu: &Gpu,
        params: &LayerParams<'_>,
        shape: DecodeShape,
        layout: CacheLayout,
        c: Contents,
    ) -> Result<Self> {
        let up = upload_params(gpu, params)?;
        let st = &gpu.stream;
        Ok(Self {
            shape,
            layout,
            code_capacity: c.code_capacity,
            fp16_capacity: c.fp16_capacity,
            key_codes: c.key_codes,
            value_codes: c.value_codes,
            fp16_keys: c.fp16_keys,
            fp16_values: c.fp16_values,
            key_codebooks: up.key_codebooks,
            value_codebooks: up.value_codebooks,
            encoder: up.encoder,
            smooth: up.smooth,
            coded_len: st.clone_htod(&as_i32(&c.coded)?)?,
            fp16_len: st.clone_htod(&as_i32(&c.fp16)?)?,
            total_len: [
                st.clone_htod(&as_i32(&c.total)?)?,
                st.alloc_zeros(shape.batch)?,
            ],
            parity: 0,
            coded_len_host: c.coded,
            total_len_host: c.total,
        })
    }

    /// The key and value codes, copied back (for checks).
    pub fn download_codes(&self, gpu: &Gpu) -> Result<(Vec<u8>, Vec<u8>)> {
        Ok((
            gpu.stream.clone_dtoh(&self.key_codes)?,
            gpu.stream.clone_dtoh(&self.value_codes)?,
        ))
    }
}

/// Random bytes and fp16 values for timing: the kernels' speed does not depend on the values.
struct Filler(u64);

impl Filler {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n.div_ceil(8))
            .flat_map(|_| self.next().to_le_bytes())
            .take(n)
            .collect()
    }
    /// fp16 values in [-1, 1).
    fn halves(&mut self, n: usize) -> Vec<u16> {
        (0..n)
            .map(|_| {
                f16::from_f32((self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0).to_bits()
            })
            .collect()
    }
}

impl GpuKvCache {
    /// A cache of random codes and fp16 tokens, every sequence `coded` coded plus `fp16` fp16
    /// tokens long (a window of `fp16`, no sinks), with room for `room` more tokens; for
    /// benchmarks (correctness is checked with [`Self::from_reference`]).
    pub fn random(
        gpu: &Gpu,
        shape: DecodeShape,
        config: &vecinfer_codegen::KernelConfig,
        (coded, fp16, room): (usize, usize, usize),
        seed: u64,
    ) -> Result<Self> {
        let (b, hk, d) = (shape.batch, shape.kv_heads, shape.head_dim);
        let set = vecinfer_quant::synthetic::random_codebook_set(
            seed,
            config.key_codec,
            config.value_codec,
            config.granularity,
            1,
            hk,
            d,
        );
        let params = set.layer(0, config.transform)?;
        let layout = CacheLayout {
            sinks: 0,
            residual: fp16,
        };
        let mut cache = Self::empty(gpu, &params, shape, layout, coded + fp16 + room)?;
        let mut fill = Filler(seed);
        let st = &gpu.stream;
        let total = coded + fp16;
        cache.key_codes = st.clone_htod(&fill.bytes(cache.key_codes.len()))?;
        cache.value_codes = st.clone_htod(&fill.bytes(cache.value_codes.len()))?;
        cache.fp16_keys = st.clone_htod(&fill.halves(b * hk * cache.fp16_capacity * d))?;
        cache.fp16_values = st.clone_htod(&fill.halves(b * hk * cache.fp16_capacity * d))?;
        cache.coded_len = st.clone_htod(&vec![coded as i32; b])?;
        cache.fp16_len = st.clone_htod(&vec![fp16 as i32; b])?;
        cache.total_len[0] = st.clone_htod(&vec![total as i32; b])?;
        cache.coded_len_host = vec![coded; b];
        cache.total_len_host = vec![total; b];
        Ok(cache)
    }

    /// Random caches of `seq` tokens per sequence (the newest `residual` in fp16), enough of
    /// them (at least 256 MB, at most 16) that a benchmark rotating through them never finds
    /// the previous step's bytes in L2.
    pub fn rotating(
        gpu: &Gpu,
        shape: DecodeShape,
        config: &vecinfer_codegen::KernelConfig,
        seq: usize,
        residual: usize,
    ) -> Result<Vec<Self>> {
        let coded = seq.saturating_sub(residual);
        let fp16 = seq - coded;
        let first = Self::random(gpu, shape, config, (coded, fp16, 0), 1)?;
        let copies = (256usize << 20)
            .div_ceil(first.bytes_per_step(config))
            .clamp(1, 16);
        let mut caches = vec![first];
        for i in 1..copies {
            caches.push(Self::random(
                gpu,
                shape,
                config,
                (coded, fp16, 0),
                1 + i as u64,
            )?);
        }
        Ok(caches)
    }

    /// Bytes one decode step must read from memory: codes and fp16 tokens of every sequence.
    pub fn bytes_per_step(&self, config: &vecinfer_codegen::KernelConfig) -> usize {
        let per_head_coded: usize = self.coded_len_host.iter().sum::<usize>()
            * (config.key_row_bytes() + config.value_row_bytes());
        let fp16_tokens = self.fp16_capacity * self.shape.batch;
        self.shape.kv_heads * (per_head_coded + fp16_tokens * self.shape.head_dim * 2 * 2)
    }
}
