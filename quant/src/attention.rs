//! The reference decode attention over a VQ-compressed KV cache: the oracle every GPU kernel
//! is checked against.
//!
//! Cache semantics (the GPU cache follows them exactly), with a [`CacheLayout`]:
//! - each (sequence, KV head) holds, in token order, up to `sinks` oldest tokens in fp16, then
//!   `quantized_len` tokens as packed codes (layout in [`crate::pack`]), then at most
//!   `residual` newest tokens in fp16; all fp16 tokens are untransformed;
//! - `append` fills the sinks first; after that it puts the new token into the fp16 window, and
//!   when the window then holds more than `residual` tokens the oldest one is flushed: its fp16
//!   key is transformed in f32 (`(k ⊘ λ)·H`) and encoded, its fp16 value is encoded;
//! - `attend` transforms the query (`q' = (q ⊙ λ)·H / sqrt(D)`), builds the lookup table
//!   `LUT[m][j] = q'_m · C_k[j]`, scores a coded token as `Σ_m LUT[m][code_m]` and an fp16 token
//!   as `q · k / sqrt(D)`, then takes the softmax and sums values decoded from the V codebook
//!   (or read from the fp16 window). All arithmetic is f32.
//! - with an int8 window ([`CacheLayout::precision`]), every sink and window row is held as
//!   `f16(q · s)` for its int8 codes `q` and fp16 scale `s` ([`crate::window`]); a flushed
//!   token is encoded from that row.

use crate::codebook_file::LayerParams;
use crate::error::{QuantError, Result};
use crate::method::CacheLayout;
use crate::window::{WindowPrecision, int8_row, int8_value};
use half::f16;

/// Shape of one decode step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeShape {
    pub batch: usize,
    pub q_heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

impl DecodeShape {
    pub fn group(&self) -> usize {
        self.q_heads / self.kv_heads
    }

    pub fn validate(&self) -> Result<()> {
        crate::hadamard::check_head_dim(self.head_dim)?;
        if self.batch == 0
            || self.kv_heads == 0
            || self.q_heads == 0
            || !self.q_heads.is_multiple_of(self.kv_heads)
        {
            return Err(QuantError::InvalidArgument(format!(
                "{} query heads cannot share {} KV heads: the query heads must be a positive multiple of the KV heads, batch positive",
                self.q_heads, self.kv_heads
            )));
        }
        Ok(())
    }
}

#[derive(Clone, Default)]
struct HeadCache {
    /// fp16, `[sink_len, head_dim]`.
    sink_keys: Vec<f16>,
    sink_values: Vec<f16>,
    key_codes: Vec<u8>,
    value_codes: Vec<u8>,
    quantized_len: usize,
    /// fp16, `[window_len, head_dim]`, oldest first.
    residual_keys: Vec<f16>,
    residual_values: Vec<f16>,
    /// An int8 window: each sink's and window token's (key, value) scales, in the order of
    /// the rows above; their rows hold `f16(q · scale)`. Empty for an fp16 window.
    sink_scales: Vec<(f16, f16)>,
    residual_scales: Vec<(f16, f16)>,
}

/// One appended row as the window holds it (fp16, or the values of its int8 codes) and its
/// int8 scale.
fn window_row(x: &[f32], precision: WindowPrecision) -> (Vec<f16>, Option<f16>) {
    let rounded: Vec<f32> = x.iter().map(|&v| f16::from_f32(v).to_f32()).collect();
    match precision {
        WindowPrecision::Fp16 => (rounded.iter().map(|&v| f16::from_f32(v)).collect(), None),
        WindowPrecision::Int8 => {
            let (codes, scale) = int8_row(&rounded);
            let row = codes.iter().map(|&q| int8_value(q, scale)).collect();
            (row, Some(scale))
        }
    }
}

/// A CPU model of the GPU's quantized KV cache for one layer.
pub struct ReferenceKvCache<'a> {
    params: LayerParams<'a>,
    shape: DecodeShape,
    layout: CacheLayout,
    key_row: usize,
    value_row: usize,
    /// `[batch][kv_heads]`
    heads: Vec<Vec<HeadCache>>,
    /// Nearest-centroid buffers for K and V flushes, kept so `append` allocates nothing.
    key_scratch: Vec<f32>,
    value_scratch: Vec<f32>,
}

impl<'a> ReferenceKvCache<'a> {
    pub fn new(params: LayerParams<'a>, shape: DecodeShape, layout: CacheLayout) -> Result<Self> {
        shape.validate()?;
        if shape.kv_heads != params.kv_heads || shape.head_dim != params.head_dim {
            return Err(QuantError::shape(
                "cache shape vs codebooks",
                format!("{} KV heads of dim {}", params.kv_heads, params.head_dim),
                format!("{} KV heads of dim {}", shape.kv_heads, shape.head_dim),
            ));
        }
        let key_row = params.keys.codec().packed_bytes(shape.head_dim)?;
        let value_row = params.values.codec().packed_bytes(shape.head_dim)?;
        Ok(Self {
            key_scratch: params.keys.for_head(0).scratch(),
            value_scratch: params.values.for_head(0).scratch(),
            params,
            shape,
            layout,
            key_row,
            value_row,
            heads: vec![vec![HeadCache::default(); shape.kv_heads]; shape.batch],
        })
    }

    pub fn len(&self, seq: usize) -> usize {
        let h = &self.heads[seq][0];
        (h.sink_keys.len() + h.residual_keys.len()) / self.shape.head_dim + h.quantized_len
    }

    /// Tokens held as sinks (fp16, before the codes).
    pub fn sink_len(&self, seq: usize) -> usize {
        self.heads[seq][0].sink_keys.len() / self.shape.head_dim
    }

    pub fn is_empty(&self, seq: usize) -> bool {
        self.len(seq) == 0
    }

    pub fn quantized_len(&self, seq: usize) -> usize {
        self.heads[seq][0].quantized_len
    }

    /// The fp16 keys of one (sequence, KV head): the sinks, then the residual window,
    /// `[sink_len + window_len, head_dim]`.
    pub fn fp16_keys(&self, seq: usize, kv_head: usize) -> Vec<f16> {
        let h = &self.heads[seq][kv_head];
        [h.sink_keys.as_slice(), h.residual_keys.as_slice()].concat()
    }

    pub fn fp16_values(&self, seq: usize, kv_head: usize) -> Vec<f16> {
        let h = &self.heads[seq][kv_head];
        [h.sink_values.as_slice(), h.residual_values.as_slice()].concat()
    }

    /// With an int8 window, the (key, value) scales of the rows [`Self::fp16_keys`] lists;
    /// each row element is `f16(q · scale)` for its code `q` ([`crate::window::int8_code`]
    /// recovers it). Empty for an fp16 window.
    pub fn slot_scales(&self, seq: usize, kv_head: usize) -> Vec<(f16, f16)> {
        let h = &self.heads[seq][kv_head];
        [h.sink_scales.as_slice(), h.residual_scales.as_slice()].concat()
    }

    pub fn layout(&self) -> CacheLayout {
        self.layout
    }

    pub fn shape(&self) -> DecodeShape {
        self.shape
    }

    pub fn params(&self) -> &LayerParams<'a> {
        &self.params
    }

    /// Packed key codes of one (sequence, KV head), `[quantized_len, key_row_bytes]`.
    pub fn key_codes(&self, seq: usize, kv_head: usize) -> &[u8] {
        &self.heads[seq][kv_head].key_codes
    }

    pub fn value_codes(&self, seq: usize, kv_head: usize) -> &[u8] {
        &self.heads[seq][kv_head].value_codes
    }

    /// Appends one token's keys and values (`[kv_heads, head_dim]` each) to sequence `seq`.
    pub fn append(&mut self, seq: usize, keys: &[f32], values: &[f32]) -> Result<()> {
        let (hk, d) = (self.shape.kv_heads, self.shape.head_dim);
        if seq >= self.shape.batch {
            return Err(QuantError::InvalidArgument(format!(
                "sequence {seq} out of range: batch is {}",
                self.shape.batch
            )));
        }
        for (what, x) in [("appended keys", keys), ("appended values", values)] {
            if x.len() != hk * d {
                return Err(QuantError::shape(
                    what,
                    format!("[{hk}, {d}] = {}", hk * d),
                    x.len(),
                ));
            }
        }
        let precision = self.layout.precision;
        for h in 0..hk {
            let head = &mut self.heads[seq][h];
            let (key, key_scale) = window_row(&keys[h * d..(h + 1) * d], precision);
            let (value, value_scale) = window_row(&values[h * d..(h + 1) * d], precision);
            let scales = key_scale.zip(value_scale);
            if head.sink_keys.len() / d < self.layout.sinks {
                head.sink_keys.extend(key);
                head.sink_values.extend(value);
                head.sink_scales.extend(scales);
                continue;
            }
            head.residual_keys.extend(key);
            head.residual_values.extend(value);
            head.residual_scales.extend(scales);
            if head.residual_keys.len() / d > self.layout.residual {
                // Encoded from the row the window held (int8: its codes' values), as the
                // GPU's flush reads it from its slot.
                let mut key: Vec<f32> = head.residual_keys.drain(..d).map(f16::to_f32).collect();
                let value: Vec<f32> = head.residual_values.drain(..d).map(f16::to_f32).collect();
                if !head.residual_scales.is_empty() {
                    head.residual_scales.remove(0);
                }
                self.params.key_to_code_space(h, &mut key)?;
                let start = head.key_codes.len();
                head.key_codes.resize(start + self.key_row, 0);
                self.params.keys.for_head(h).encode_packed(
                    &key,
                    &mut head.key_codes[start..],
                    &mut self.key_scratch,
                );
                let start = head.value_codes.len();
                head.value_codes.resize(start + self.value_row, 0);
                self.params.values.for_head(h).encode_packed(
                    &value,
                    &mut head.value_codes[start..],
                    &mut self.value_scratch,
                );
                head.quantized_len += 1;
            }
        }
        Ok(())
    }

    /// Keys of one (sequence, KV head) as the cache holds them, mapped back to the original
    /// space (`[len, head_dim]`); for naive checks.
    pub fn dequantized_keys(&self, seq: usize, kv_head: usize) -> Result<Vec<f32>> {
        let d = self.shape.head_dim;
        let head = &self.heads[seq][kv_head];
        let sinks = head.sink_keys.len();
        let mut out: Vec<f32> = head.sink_keys.iter().map(|k| k.to_f32()).collect();
        out.resize(self.len(seq) * d, 0.0);
        for t in 0..head.quantized_len {
            let row = &mut out[sinks + t * d..sinks + (t + 1) * d];
            self.params.keys.for_head(kv_head).decode_packed(
                &head.key_codes[t * self.key_row..(t + 1) * self.key_row],
                row,
            );
            self.params.key_from_code_space(kv_head, row)?;
        }
        for (o, k) in out[sinks + head.quantized_len * d..]
            .iter_mut()
            .zip(&head.residual_keys)
        {
            *o = k.to_f32();
        }
        Ok(out)
    }

    /// Values of one (sequence, KV head) as the cache holds them (`[len, head_dim]`).
    pub fn dequantized_values(&self, seq: usize, kv_head: usize) -> Vec<f32> {
        let d = self.shape.head_dim;
        let head = &self.heads[seq][kv_head];
        let sinks = head.sink_values.len();
        let mut out: Vec<f32> = head.sink_values.iter().map(|v| v.to_f32()).collect();
        out.resize(self.len(seq) * d, 0.0);
        for t in 0..head.quantized_len {
            let row = &mut out[sinks + t * d..sinks + (t + 1) * d];
            self.params.values.for_head(kv_head).decode_packed(
                &head.value_codes[t * self.value_row..(t + 1) * self.value_row],
                row,
            );
        }
        for (o, v) in out[sinks + head.quantized_len * d..]
            .iter_mut()
            .zip(&head.residual_values)
        {
            *o = v.to_f32();
        }
        out
    }

    /// One decode step: `queries` is `[batch, q_heads, head_dim]`; returns the same shape. An
    /// empty sequence attends to nothing: its output is zeros (as the GPU kernels define it).
    pub fn attend(&self, queries: &[f32]) -> Result<Vec<f32>> {
        let s = self.shape;
        let d = s.head_dim;
        if queries.len() != s.batch * s.q_heads * d {
            return Err(QuantError::shape(
                "queries",
                format!("[{}, {}, {}]", s.batch, s.q_heads, d),
                queries.len(),
            ));
        }
        let mut out = vec![0f32; queries.len()];
        for b in 0..s.batch {
            if self.is_empty(b) {
                continue;
            }
            for qh in 0..s.q_heads {
                let idx = (b * s.q_heads + qh) * d;
                let o = self.attend_head(b, qh / s.group(), &queries[idx..idx + d])?;
                out[idx..idx + d].copy_from_slice(&o);
            }
        }
        Ok(out)
    }

    fn attend_head(&self, seq: usize, kv_head: usize, query: &[f32]) -> Result<Vec<f32>> {
        let d = self.shape.head_dim;
        let head = &self.heads[seq][kv_head];
        let softmax_scale = 1.0 / (d as f32).sqrt();
        let key_books = self.params.keys.for_head(kv_head);
        let key_codec = key_books.codec();
        let (sub, books) = (key_codec.sub_dim(), key_codec.codebook_size());
        let m_count = d / sub;

        let mut q_transformed = query.to_vec();
        self.params
            .query_to_code_space(kv_head, &mut q_transformed)?;
        q_transformed.iter_mut().for_each(|v| *v *= softmax_scale);
        // LUT[m][j] = q'_m · C[j]
        let mut lut = vec![0f32; m_count * books];
        for m in 0..m_count {
            let qm = &q_transformed[m * sub..(m + 1) * sub];
            for j in 0..books {
                lut[m * books + j] = qm
                    .iter()
                    .zip(key_books.centroid(j))
                    .map(|(a, b)| a * b)
                    .sum();
            }
        }
        let window = head.residual_keys.len() / d;
        let sinks = head.sink_keys.len() / d;
        let fp16_score = |k: &[f16]| {
            query
                .iter()
                .zip(k)
                .map(|(q, k)| q * k.to_f32())
                .sum::<f32>()
                * softmax_scale
        };
        let mut scores: Vec<f32> = head.sink_keys.chunks_exact(d).map(fp16_score).collect();
        for t in 0..head.quantized_len {
            let row = &head.key_codes[t * self.key_row..(t + 1) * self.key_row];
            scores.push(
                (0..m_count)
                    .map(|m| {
                        lut[m * books + crate::pack::unpack_code(row, key_codec.bits(), m) as usize]
                    })
                    .sum::<f32>(),
            );
        }
        scores.extend(
            head.residual_keys
                .chunks_exact(d)
                .take(window)
                .map(fp16_score),
        );
        let max = scores.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let weights: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
        let total: f32 = weights.iter().sum();

        let value_books = self.params.values.for_head(kv_head);
        let mut acc = vec![0f32; d];
        let mut value = vec![0f32; d];
        let fp16_value = |value: &mut [f32], src: &[f16]| {
            value.iter_mut().zip(src).for_each(|(o, v)| *o = v.to_f32())
        };
        for (t, &w) in weights.iter().enumerate() {
            if t < sinks {
                fp16_value(&mut value, &head.sink_values[t * d..(t + 1) * d]);
            } else if t < sinks + head.quantized_len {
                let c = t - sinks;
                value_books.decode_packed(
                    &head.value_codes[c * self.value_row..(c + 1) * self.value_row],
                    &mut value,
                );
            } else {
                let r = t - sinks - head.quantized_len;
                fp16_value(&mut value, &head.residual_values[r * d..(r + 1) * d]);
            }
            acc.iter_mut().zip(&value).for_each(|(a, v)| *a += w * v);
        }
        acc.iter_mut().for_each(|a| *a /= total);
        Ok(acc)
    }
}
