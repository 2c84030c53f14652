//! The quantized KV cache of one layer in GPU memory.
//!
//! Per (sequence, KV head), at a fixed capacity so a paged (block-table) version only changes
//! how a token index maps to an address:
//! - `key_codes`, `value_codes`: `[batch, kv_heads, code_capacity, row]` bytes (layout of
//!   `vecinfer_quant::pack`), `code_capacity` a multiple of 16 so tiles stay 16-byte aligned;
//! - `fp16_keys`, `fp16_values`: `[batch, kv_heads, fp16_capacity, head_dim]` f16 (the sinks,
//!   then the residual window; attention does not depend on their order);
//! - codebooks (f16), smooth scales (f32) and the per-sequence lengths.

use crate::error::{Result, RuntimeError};
use crate::gpu::Gpu;
use cudarc::driver::CudaSlice;
use half::f16;
use vecinfer_quant::{DecodeShape, ReferenceKvCache};

pub struct GpuKvCache {
    pub shape: DecodeShape,
    pub code_capacity: usize,
    pub fp16_capacity: usize,
    pub key_codes: CudaSlice<u8>,
    pub value_codes: CudaSlice<u8>,
    pub fp16_keys: CudaSlice<u16>,
    pub fp16_values: CudaSlice<u16>,
    pub key_codebooks: CudaSlice<u16>,
    pub value_codebooks: CudaSlice<u16>,
    pub smooth: CudaSlice<f32>,
    pub coded_len: CudaSlice<i32>,
    pub fp16_len: CudaSlice<i32>,
    /// Host copies of the lengths, for launch geometry.
    pub coded_len_host: Vec<usize>,
}

fn bits(x: &[f16]) -> Vec<u16> {
    x.iter().map(|h| h.to_bits()).collect()
}

impl GpuKvCache {
    /// Uploads the state of a CPU reference cache (used to check kernels against it, and to
    /// move a cache filled on the host).
    pub fn from_reference(gpu: &Gpu, cpu: &ReferenceKvCache<'_>) -> Result<Self> {
        let shape = cpu.shape();
        let (b, hk, d) = (shape.batch, shape.kv_heads, shape.head_dim);
        let params = cpu.params();
        let key_row = params.keys.codec().packed_bytes(d)?;
        let value_row = params.values.codec().packed_bytes(d)?;
        let coded: Vec<usize> = (0..b).map(|s| cpu.quantized_len(s)).collect();
        let fp16: Vec<usize> = (0..b).map(|s| cpu.len(s) - cpu.quantized_len(s)).collect();
        let code_capacity = coded
            .iter()
            .copied()
            .max()
            .unwrap_or(0)
            .max(1)
            .next_multiple_of(16);
        let fp16_capacity = fp16.iter().copied().max().unwrap_or(0).max(1);
        let mut key_codes = vec![0u8; b * hk * code_capacity * key_row];
        let mut value_codes = vec![0u8; b * hk * code_capacity * value_row];
        let mut fp16_keys = vec![0u16; b * hk * fp16_capacity * d];
        let mut fp16_values = vec![0u16; b * hk * fp16_capacity * d];
        for s in 0..b {
            for h in 0..hk {
                let slot = s * hk + h;
                let k = cpu.key_codes(s, h);
                key_codes[slot * code_capacity * key_row..][..k.len()].copy_from_slice(k);
                let v = cpu.value_codes(s, h);
                value_codes[slot * code_capacity * value_row..][..v.len()].copy_from_slice(v);
                let fk = bits(&cpu.fp16_keys(s, h));
                fp16_keys[slot * fp16_capacity * d..][..fk.len()].copy_from_slice(&fk);
                let fv = bits(&cpu.fp16_values(s, h));
                fp16_values[slot * fp16_capacity * d..][..fv.len()].copy_from_slice(&fv);
            }
        }
        let books = |all: &[vecinfer_quant::Codebook]| -> Vec<u16> {
            all.iter().flat_map(|c| bits(&c.to_f16())).collect()
        };
        let st = &gpu.stream;
        let as_i32 = |v: &[usize]| -> Vec<i32> { v.iter().map(|&x| x as i32).collect() };
        if coded.iter().chain(&fp16).any(|&n| n > i32::MAX as usize) {
            return Err(RuntimeError::Invalid(
                "sequence longer than 2^31 tokens".into(),
            ));
        }
        Ok(Self {
            shape,
            code_capacity,
            fp16_capacity,
            key_codes: st.clone_htod(&key_codes)?,
            value_codes: st.clone_htod(&value_codes)?,
            fp16_keys: st.clone_htod(&fp16_keys)?,
            fp16_values: st.clone_htod(&fp16_values)?,
            key_codebooks: st.clone_htod(&books(params.keys.all()))?,
            value_codebooks: st.clone_htod(&books(params.values.all()))?,
            smooth: st.clone_htod(params.smooth)?,
            coded_len: st.clone_htod(&as_i32(&coded))?,
            fp16_len: st.clone_htod(&as_i32(&fp16))?,
            coded_len_host: coded,
        })
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
    /// tokens long; for benchmarks (correctness is checked with [`Self::from_reference`]).
    pub fn random(
        gpu: &Gpu,
        shape: DecodeShape,
        config: &vecinfer_codegen::KernelConfig,
        coded: usize,
        fp16: usize,
        seed: u64,
    ) -> Result<Self> {
        let (b, hk, d) = (shape.batch, shape.kv_heads, shape.head_dim);
        let code_capacity = coded.max(1).next_multiple_of(16);
        let fp16_capacity = fp16.max(1);
        let groups = config.granularity.codebooks_per_layer(hk);
        let (kc, vc) = (config.key_codec, config.value_codec);
        let mut fill = Filler(seed);
        let st = &gpu.stream;
        Ok(Self {
            shape,
            code_capacity,
            fp16_capacity,
            key_codes: st
                .clone_htod(&fill.bytes(b * hk * code_capacity * config.key_row_bytes()))?,
            value_codes: st
                .clone_htod(&fill.bytes(b * hk * code_capacity * config.value_row_bytes()))?,
            fp16_keys: st.clone_htod(&fill.halves(b * hk * fp16_capacity * d))?,
            fp16_values: st.clone_htod(&fill.halves(b * hk * fp16_capacity * d))?,
            key_codebooks: st
                .clone_htod(&fill.halves(groups * kc.codebook_size() * kc.sub_dim()))?,
            value_codebooks: st
                .clone_htod(&fill.halves(groups * vc.codebook_size() * vc.sub_dim()))?,
            smooth: st.clone_htod(&vec![1.0f32; hk * d])?,
            coded_len: st.clone_htod(&vec![coded as i32; b])?,
            fp16_len: st.clone_htod(&vec![fp16 as i32; b])?,
            coded_len_host: vec![coded; b],
        })
    }

    /// Bytes one decode step must read from memory: codes and fp16 tokens of every sequence.
    pub fn bytes_per_step(&self, config: &vecinfer_codegen::KernelConfig) -> usize {
        let per_head_coded: usize = self.coded_len_host.iter().sum::<usize>()
            * (config.key_row_bytes() + config.value_row_bytes());
        let fp16_tokens = self.fp16_capacity * self.shape.batch;
        self.shape.kv_heads * (per_head_coded + fp16_tokens * self.shape.head_dim * 2 * 2)
    }
}
