//! The methods compared in evaluation, all behind one interface: given a layer's keys and
//! values, return them as the quantized cache would give them back.

use crate::codebook_file::CodebookSet;
use crate::error::{QuantError, Result};
use crate::kivi;
use crate::transform::KeyTransform;
use crate::window::WindowPrecision;
use half::f16;
use rayon::prelude::*;
use std::fmt;
use std::str::FromStr;

/// Newest tokens kept in full precision, as in KIVI and the paper.
pub const DEFAULT_RESIDUAL: usize = 128;

/// Where a cache holds fp16 and where codes: `[0, sinks)` fp16 (attention sinks, never
/// quantized), then the quantized span, then the newest `residual` tokens in fp16; with an int8
/// `precision`, the sinks and the window are held as int8 rows with a scale instead.
///
/// The paper keeps no sink tokens (`sinks = 0`). On SmolLM2 the first token's key draws much
/// of the attention, and quantizing it costs more perplexity than all other keys together;
/// keeping a few sinks in fp16 costs `sinks * 2 * head_dim * 2` bytes per (sequence, head).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct CacheLayout {
    pub sinks: usize,
    pub residual: usize,
    /// How the tokens outside the codes (sinks and window) are held.
    #[serde(default)]
    pub precision: WindowPrecision,
}

impl Default for CacheLayout {
    fn default() -> Self {
        Self {
            sinks: 0,
            residual: DEFAULT_RESIDUAL,
            precision: WindowPrecision::Fp16,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// The fp16 cache, no quantization.
    Fp16,
    /// Vector quantization with the given key transform (`NONE` is plain VQ, `BOTH` is VecInfer).
    Vq(KeyTransform),
    /// KIVI 2-bit scalar quantization.
    Kivi2,
}

impl Method {
    pub const ALL: [Method; 6] = [
        Method::Fp16,
        Method::Vq(KeyTransform::NONE),
        Method::Vq(KeyTransform::SMOOTH),
        Method::Vq(KeyTransform::HADAMARD),
        Method::Vq(KeyTransform::BOTH),
        Method::Kivi2,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Method::Fp16 => "fp16",
            Method::Vq(KeyTransform {
                smooth: false,
                hadamard: false,
            }) => "vq",
            Method::Vq(KeyTransform {
                smooth: true,
                hadamard: false,
            }) => "vq+smooth",
            Method::Vq(KeyTransform {
                smooth: false,
                hadamard: true,
            }) => "vq+hadamard",
            Method::Vq(KeyTransform {
                smooth: true,
                hadamard: true,
            }) => "vecinfer",
            Method::Kivi2 => "kivi2",
        }
    }

    /// A comma-separated list of method names, each at most once (empty items are skipped);
    /// an empty list is an error.
    pub fn parse_list(list: &str) -> Result<Vec<Method>> {
        let mut methods: Vec<Method> = Vec::new();
        for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let m: Method = name.parse()?;
            if methods.contains(&m) {
                return Err(QuantError::InvalidArgument(format!(
                    "method list {list:?} names {m} twice"
                )));
            }
            methods.push(m);
        }
        if methods.is_empty() {
            return Err(QuantError::UnknownMethod {
                given: list.to_string(),
                valid: Method::ALL.map(|m| m.name()).join(", "),
            });
        }
        Ok(methods)
    }

    /// Bits per element of K and V (`None` for fp16, which is 16).
    pub fn bits_per_element(self, set: Option<&CodebookSet>) -> (f64, f64) {
        match (self, set) {
            (Method::Fp16, _) => (16.0, 16.0),
            (Method::Kivi2, _) => (kivi::bits_per_element(), kivi::bits_per_element()),
            (Method::Vq(_), Some(s)) => (
                s.meta.key_codec.bits_per_element(),
                s.meta.value_codec.bits_per_element(),
            ),
            (Method::Vq(_), None) => (f64::NAN, f64::NAN),
        }
    }

    /// With `cached` tokens in the cache, the span of tokens held quantized; the others are in
    /// fp16. VQ keeps exactly the newest `residual` tokens in fp16; KIVI flushes keys in whole
    /// groups of 32 tokens, so it keeps between `residual` and `residual + 31`.
    pub fn quantized_span(self, cached: usize, layout: CacheLayout) -> std::ops::Range<usize> {
        let start = layout.sinks.min(cached);
        let beyond = cached.saturating_sub(layout.residual).saturating_sub(start);
        let len = match self {
            Method::Fp16 => 0,
            Method::Vq(_) => beyond,
            Method::Kivi2 => beyond / kivi::GROUP * kivi::GROUP,
        };
        start..start + len
    }

    /// Replaces `keys` and `values` (each `[kv_heads, tokens, head_dim]`, already fp16-rounded)
    /// by what the quantized cache returns for them. Only the quantized span of the cache
    /// uses these; sinks and the residual window read the fp16 originals.
    pub fn round_trip_layer(
        self,
        set: Option<&CodebookSet>,
        layer: usize,
        keys: &mut [f32],
        values: &mut [f32],
        kv_heads: usize,
        head_dim: usize,
    ) -> Result<()> {
        if keys.len() != values.len() || !keys.len().is_multiple_of(kv_heads * head_dim) {
            return Err(QuantError::shape(
                "layer K/V",
                format!("equal lengths, multiples of {}", kv_heads * head_dim),
                format!("{} and {}", keys.len(), values.len()),
            ));
        }
        let per_head = keys.len() / kv_heads;
        match self {
            Method::Fp16 => Ok(()),
            Method::Kivi2 => {
                keys.par_chunks_mut(per_head)
                    .for_each(|k| kivi::round_trip_keys(k, head_dim));
                values
                    .par_chunks_mut(per_head)
                    .for_each(|v| kivi::round_trip_values(v, head_dim));
                Ok(())
            }
            Method::Vq(transform) => {
                let set = set.ok_or_else(|| {
                    QuantError::InvalidArgument(format!("method {} needs codebooks", self.name()))
                })?;
                let params = set.layer(layer, transform)?;
                if params.head_dim != head_dim || params.kv_heads != kv_heads {
                    return Err(QuantError::shape(
                        "codebooks vs model",
                        format!("{} KV heads of dim {}", params.kv_heads, params.head_dim),
                        format!("{kv_heads} KV heads of dim {head_dim}"),
                    ));
                }
                for h in 0..kv_heads {
                    let k = &mut keys[h * per_head..(h + 1) * per_head];
                    k.par_chunks_mut(head_dim)
                        .try_for_each(|row| params.key_to_code_space(h, row))?;
                    params.keys.for_head(h).round_trip_rows(k, head_dim)?;
                    k.par_chunks_mut(head_dim)
                        .try_for_each(|row| params.key_from_code_space(h, row))?;
                    params
                        .values
                        .for_head(h)
                        .round_trip_rows(&mut values[h * per_head..(h + 1) * per_head], head_dim)?;
                }
                Ok(())
            }
        }
    }
}

/// What a cache of one method costs per element of K and V once it holds `ctx` tokens, every
/// fp16 token counted: `(fp16_tokens · 16 + int8_tokens · b_int8 + coded_tokens · b_code) /
/// ctx`, where the sinks, the residual window and the anchors (their budget at `ctx`) are fp16
/// or int8 tokens as the window is (`b_int8`: 8 bits and a row's fp16 scale). KIVI's
/// `b_code` includes its fp16 scale and zero per group. The codebooks are shared by every
/// sequence, so they are not in `key_bits`/`value_bits`; `codebook_bits_batch1` is what they
/// would add for a single sequence of `ctx` tokens (it shrinks with batch and context).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct EffectiveBits {
    pub ctx: usize,
    pub fp16_tokens: usize,
    /// The sinks', the residual window's and the anchors' tokens when the window is int8 (VQ
    /// methods only), else 0.
    pub int8_tokens: usize,
    pub window: WindowPrecision,
    pub coded_tokens: usize,
    pub key_bits: f64,
    pub value_bits: f64,
    /// The mean of K and V.
    pub bits: f64,
    pub codebook_bits_batch1: f64,
}

impl Method {
    /// See [`EffectiveBits`]. `anchors` and the layout's window precision only apply to the VQ
    /// methods (the others ignore them: fp16 has no window, KIVI keeps its own fp16 one).
    pub fn effective_bits(
        self,
        set: Option<&CodebookSet>,
        layout: CacheLayout,
        ctx: usize,
        anchors: Option<crate::anchors::AnchorBudget>,
    ) -> EffectiveBits {
        let span = self.quantized_span(ctx, layout);
        let anchored = match (self, anchors) {
            (Method::Vq(_), Some(b)) => b.at(ctx).min(span.len()),
            _ => 0,
        };
        let coded = span.len() - anchored;
        let window = match self {
            Method::Vq(_) => layout.precision,
            _ => WindowPrecision::Fp16,
        };
        // An int8 window holds the sinks and the anchors as int8 rows too.
        let int8 = match window {
            WindowPrecision::Int8 => ctx - span.len() + anchored,
            WindowPrecision::Fp16 => 0,
        };
        let fp16 = ctx - coded - int8;
        // Only the VQ methods' int8 window has a price per row, and it needs the head dim.
        let int8_bits = match (int8, set) {
            (0, _) => 0.0,
            (_, Some(s)) => window.bits_per_element(s.meta.head_dim),
            (_, None) => f64::NAN,
        };
        let (kb, vb) = self.bits_per_element(set);
        let per = |b: f64| {
            if ctx == 0 {
                f64::NAN
            } else {
                (fp16 as f64 * 16.0 + int8 as f64 * int8_bits + coded as f64 * b) / ctx as f64
            }
        };
        let codebook_bits_batch1 = match (self, set) {
            (Method::Vq(_), Some(s)) if ctx > 0 => {
                let m = &s.meta;
                let groups = m.granularity.codebooks_per_layer(m.kv_heads) as f64;
                let book = |c: crate::VqCodec| (c.codebook_size() * c.sub_dim()) as f64 * 16.0;
                let elements = (2 * m.kv_heads * ctx * m.head_dim) as f64;
                groups * (book(m.key_codec) + book(m.value_codec)) / elements
            }
            _ => 0.0,
        };
        let (key_bits, value_bits) = (per(kb), per(vb));
        EffectiveBits {
            ctx,
            fp16_tokens: fp16,
            int8_tokens: int8,
            window,
            coded_tokens: coded,
            key_bits,
            value_bits,
            bits: (key_bits + value_bits) / 2.0,
            codebook_bits_batch1,
        }
    }
}

/// Rounds to fp16 and back, as the cache stores K and V.
pub fn round_to_f16(data: &mut [f32]) {
    data.iter_mut()
        .for_each(|v| *v = f16::from_f32(*v).to_f32());
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = QuantError;
    fn from_str(s: &str) -> Result<Self> {
        Method::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| QuantError::UnknownMethod {
                given: s.to_string(),
                valid: Method::ALL.map(|m| m.name()).join(", "),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_names_list_valid_ones() {
        for m in Method::ALL {
            assert_eq!(m.name().parse::<Method>().unwrap(), m);
        }
        let err = "vq+foo".parse::<Method>().unwrap_err().to_string();
        assert!(err.contains("vecinfer") && err.contains("kivi2"), "{err}");
        assert_eq!(
            Method::parse_list("fp16, vecinfer").unwrap(),
            vec![Method::Fp16, Method::Vq(KeyTransform::BOTH)]
        );
        for bad in ["", " , ", "fp16,fp16"] {
            assert!(Method::parse_list(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn residual_windows_and_sinks() {
        let vq = Method::Vq(KeyTransform::BOTH);
        let plain = CacheLayout {
            sinks: 0,
            residual: 128,
            ..CacheLayout::default()
        };
        let sinks = CacheLayout {
            sinks: 4,
            residual: 128,
            ..CacheLayout::default()
        };
        assert_eq!(vq.quantized_span(100, plain), 0..0);
        assert_eq!(vq.quantized_span(129, plain), 0..1);
        assert_eq!(vq.quantized_span(2, sinks), 2..2);
        assert_eq!(vq.quantized_span(132, sinks), 4..4);
        assert_eq!(vq.quantized_span(133, sinks), 4..5);
        assert_eq!(Method::Kivi2.quantized_span(129, plain), 0..0);
        assert_eq!(Method::Kivi2.quantized_span(128 + 64, plain), 0..64);
        assert_eq!(Method::Kivi2.quantized_span(128 + 70, plain), 0..64);
        assert_eq!(Method::Kivi2.quantized_span(4 + 128 + 40, sinks), 4..36);
        assert_eq!(Method::Fp16.quantized_span(5000, plain), 0..0);
    }

    #[test]
    fn effective_bits_count_every_fp16_token() {
        let set = crate::synthetic::random_codebook_set(
            1,
            "d4b8".parse().unwrap(),
            "d8b8".parse().unwrap(),
            crate::Granularity::Layer,
            2,
            3,
            64,
        );
        let vq = Method::Vq(KeyTransform::BOTH);
        let layout = CacheLayout {
            sinks: 4,
            residual: 128,
            ..CacheLayout::default()
        };
        let int8 = CacheLayout {
            precision: WindowPrecision::Int8,
            ..layout
        };
        // ctx 2048: 132 fp16 tokens, 1916 coded. K: (132·16 + 1916·2)/2048 = 5944/2048 ≈ 2.90.
        let b = vq.effective_bits(Some(&set), layout, 2048, None);
        assert_eq!((b.fp16_tokens, b.coded_tokens), (132, 1916));
        assert!((b.key_bits - 5944.0 / 2048.0).abs() < 1e-12, "{b:?}");
        assert!((b.value_bits - (2112.0 + 1916.0) / 2048.0).abs() < 1e-12);
        assert!((b.bits - (b.key_bits + b.value_bits) / 2.0).abs() < 1e-12);
        // Per-layer codebooks: (256·4 + 256·8)·16 bits over 2·3·2048·64 elements.
        assert!((b.codebook_bits_batch1 - 3072.0 * 16.0 / 786_432.0).abs() < 1e-12);
        // 1% anchors: 20 more fp16 tokens.
        let budget = crate::anchors::AnchorBudget::parse("1%").unwrap();
        let a = vq.effective_bits(Some(&set), layout, 2048, Some(budget));
        assert_eq!((a.fp16_tokens, a.coded_tokens), (152, 1896));
        // An int8 window: the 4 sinks and the 128 newest tokens at 8 bits + 16 / 64 for the
        // row's scale. K: (132·8.25 + 1916·2)/2048.
        let w = vq.effective_bits(Some(&set), int8, 2048, None);
        assert_eq!(
            (w.fp16_tokens, w.int8_tokens, w.coded_tokens),
            (0, 132, 1916)
        );
        assert!(
            (w.key_bits - (1089.0 + 3832.0) / 2048.0).abs() < 1e-12,
            "{w:?}"
        );
        assert!((w.value_bits - (1089.0 + 1916.0) / 2048.0).abs() < 1e-12);
        // With anchors too, they are int8 rows like the window they were kept from.
        let wa = vq.effective_bits(Some(&set), int8, 2048, Some(budget));
        assert_eq!(
            (wa.fp16_tokens, wa.int8_tokens, wa.coded_tokens),
            (0, 152, 1896)
        );
        // KIVI: keys flushed in groups of 32 (1888 coded), 3 bits with scale and zero.
        let k = Method::Kivi2.effective_bits(None, int8, 2048, Some(budget));
        assert_eq!(
            (k.coded_tokens, k.int8_tokens),
            (1888, 0),
            "KIVI keeps its fp16 window"
        );
        assert_eq!(k.window, WindowPrecision::Fp16);
        assert!((k.key_bits - (160.0 * 16.0 + 1888.0 * 3.0) / 2048.0).abs() < 1e-12);
        assert_eq!(
            Method::Fp16.effective_bits(None, int8, 2048, None).bits,
            16.0
        );
    }
}
