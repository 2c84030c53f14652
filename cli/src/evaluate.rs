//! Teacher-forced perplexity with a quantized KV cache: every position attends over a cache
//! quantized as the method says, with the newest `residual` tokens in fp16.

use crate::error::Result;
use indicatif::ProgressBar;
use rayon::prelude::*;
use serde::Serialize;
use std::time::Instant;
use vecinfer_model::{AttentionBackend, HeadShape, LayerKv, Llama, banded_attention};
use vecinfer_quant::method::round_to_f16;
use vecinfer_quant::{CacheLayout, CodebookSet, Method};

/// The attention backend of evaluation: K and V go through the method's cache.
pub struct QuantizedAttention<'a> {
    pub method: Method,
    pub codebooks: Option<&'a CodebookSet>,
    pub layout: CacheLayout,
    pub measure_error: bool,
    pub error_sum: f64,
    pub error_count: usize,
}

impl<'a> QuantizedAttention<'a> {
    pub fn new(
        method: Method,
        codebooks: Option<&'a CodebookSet>,
        layout: CacheLayout,
        measure_error: bool,
    ) -> Self {
        Self {
            method,
            codebooks,
            layout,
            measure_error,
            error_sum: 0.0,
            error_count: 0,
        }
    }
}

impl AttentionBackend for QuantizedAttention<'_> {
    fn attend(
        &mut self,
        layer: usize,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        shape: HeadShape,
    ) -> vecinfer_model::Result<Vec<f32>> {
        let mut keys = k.to_vec();
        let mut values = v.to_vec();
        round_to_f16(&mut keys);
        round_to_f16(&mut values);
        let exact = || LayerKv {
            keys: &keys,
            values: &values,
        };
        let result = if self.method == Method::Fp16 {
            banded_attention(q, shape, exact(), exact(), &|n| 0..n, self.measure_error)?
        } else {
            let mut keys_q = keys.clone();
            let mut values_q = values.clone();
            self.method.round_trip_layer(
                self.codebooks,
                layer,
                &mut keys_q,
                &mut values_q,
                shape.kv_heads,
                shape.head_dim,
            )?;
            let (method, layout) = (self.method, self.layout);
            let rule = move |n: usize| method.quantized_span(n, layout);
            let bulk = LayerKv {
                keys: &keys_q,
                values: &values_q,
            };
            banded_attention(q, shape, exact(), bulk, &rule, self.measure_error)?
        };
        self.error_sum += result.error_sum;
        self.error_count += result.error_count;
        Ok(result.output)
    }
}

/// Negative log-likelihood summed over positions `1..T` of a window (each predicted from the
/// positions before it), and the count of scored tokens.
pub fn window_nll(
    model: &Llama,
    window: &[u32],
    backend: &mut dyn AttentionBackend,
) -> Result<(f64, usize)> {
    let logits = model.forward(window, backend)?;
    let vocab = model.config().vocab;
    let flat = logits
        .flatten_all()
        .map_err(vecinfer_model::ModelError::from)?
        .to_vec1::<f32>()
        .map_err(vecinfer_model::ModelError::from)?;
    let nll: f64 = (1..window.len())
        .into_par_iter()
        .map(|pos| {
            let row = &flat[(pos - 1) * vocab..pos * vocab];
            let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let log_sum: f64 = row
                .iter()
                .map(|&x| ((x - max) as f64).exp())
                .sum::<f64>()
                .ln()
                + max as f64;
            log_sum - row[window[pos] as usize] as f64
        })
        .sum();
    Ok((nll, window.len() - 1))
}

#[derive(Clone, Debug, Serialize)]
pub struct MethodResult {
    pub method: String,
    pub key_bits: f64,
    pub value_bits: f64,
    pub perplexity: f64,
    pub nll_sum: f64,
    pub tokens_scored: usize,
    /// Mean over layers, heads and sampled positions of ‖o − o_fp16‖ / ‖o_fp16‖.
    pub attention_relative_error: f64,
    pub seconds: f64,
}

pub fn evaluate_method(
    model: &Llama,
    windows: &[&[u32]],
    method: Method,
    codebooks: Option<&CodebookSet>,
    layout: CacheLayout,
    measure_error: bool,
    bar: &ProgressBar,
) -> Result<MethodResult> {
    let start = Instant::now();
    let mut backend = QuantizedAttention::new(method, codebooks, layout, measure_error);
    let (mut nll, mut count) = (0.0, 0);
    for window in windows {
        let (n, c) = window_nll(model, window, &mut backend)?;
        nll += n;
        count += c;
        bar.inc(1);
    }
    let (key_bits, value_bits) = method.bits_per_element(codebooks);
    Ok(MethodResult {
        method: method.name().to_string(),
        key_bits,
        value_bits,
        perplexity: (nll / count as f64).exp(),
        nll_sum: nll,
        tokens_scored: count,
        attention_relative_error: if backend.error_count > 0 {
            backend.error_sum / backend.error_count as f64
        } else {
            0.0
        },
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// A plain-text table of results; ΔPPL is against the fp16 row when there is one.
pub fn format_table(results: &[MethodResult]) -> String {
    let fp16 = results
        .iter()
        .find(|r| r.method == "fp16")
        .map(|r| r.perplexity);
    let mut out = format!(
        "{:<12} {:>6} {:>6} {:>9} {:>8} {:>10} {:>8}\n",
        "method", "K bits", "V bits", "PPL", "ΔPPL %", "attn err", "seconds"
    );
    for r in results {
        let delta = fp16
            .map(|f| format!("{:+.2}", 100.0 * (r.perplexity / f - 1.0)))
            .unwrap_or_else(|| "-".into());
        out += &format!(
            "{:<12} {:>6.2} {:>6.2} {:>9.3} {:>8} {:>10.4} {:>8.1}\n",
            r.method,
            r.key_bits,
            r.value_bits,
            r.perplexity,
            delta,
            r.attention_relative_error,
            r.seconds
        );
    }
    out
}
