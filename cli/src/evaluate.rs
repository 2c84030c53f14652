//! Teacher-forced perplexity with a quantized KV cache: every position attends over a cache
//! quantized as the method says, with the newest `residual` tokens in fp16.

use crate::error::{CliError, Result};
use indicatif::ProgressBar;
use rayon::prelude::*;
use serde::Serialize;
use std::path::Path;
use std::time::Instant;
use vecinfer_model::{
    AttentionBackend, HeadShape, LayerKv, Llama, attention_error, banded_attention,
    banded_attention_with_anchors,
};
use vecinfer_quant::anchors::{AnchorBudget, AnchorPolicy, AnchorRule, select};
use vecinfer_quant::method::round_to_f16;
use vecinfer_quant::plan::{layer_list, parse_layer_list};
use vecinfer_quant::{
    CacheLayout, CodebookPlan, CodebookSet, Codebooks, EffectiveBits, Method, WindowPrecision, kivi,
};

/// The attention backend of evaluation: K and V go through the method's cache.
pub struct QuantizedAttention<'a> {
    pub method: Method,
    pub codebooks: Option<Codebooks<'a>>,
    pub layout: CacheLayout,
    /// Anchor tokens beyond the sinks, at the window's precision (VQ methods only).
    pub anchors: Option<AnchorPolicy>,
    /// Quantize only these layers; the others keep an exact fp16 cache (a per-layer
    /// sensitivity probe). `None`: every layer.
    pub only_layers: Option<Vec<usize>>,
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
            codebooks: codebooks.map(Codebooks::Set),
            layout,
            anchors: None,
            only_layers: None,
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
        // With another window precision, the error is still measured against the fp16 cache.
        let precision = self.layout.precision;
        let method = match &self.only_layers {
            Some(layers) if !layers.contains(&layer) => Method::Fp16,
            _ => self.method,
        };
        let windowed = matches!(method, Method::Vq(_)) && precision != WindowPrecision::Fp16;
        let fp16_copy = (windowed && self.measure_error).then(|| (keys.clone(), values.clone()));
        if windowed {
            round_window_rows(&mut keys, shape.head_dim, precision);
            round_window_rows(&mut values, shape.head_dim, precision);
        }
        let measure_error = self.measure_error && !windowed;
        let exact = || LayerKv {
            keys: &keys,
            values: &values,
        };
        let result = if method == Method::Fp16 {
            banded_attention(q, shape, exact(), exact(), &|n| 0..n, measure_error)?
        } else {
            let mut keys_q = keys.clone();
            let mut values_q = values.clone();
            // A layer-wise plan: the layer's own set, at the layer's index in it.
            let (set, set_layer) = match self.codebooks {
                Some(c) => c.set_for(layer).map(|(s, l)| (Some(s), l))?,
                None => (None, layer),
            };
            self.method.round_trip_layer(
                set,
                set_layer,
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
            match (self.method, self.anchors) {
                (Method::Vq(_), Some(policy)) => {
                    let (t, d) = (shape.tokens, shape.head_dim);
                    let choose = |head: usize, mass: &[f32]| {
                        let span = head * t * d..(head + 1) * t * d;
                        let score =
                            anchor_scores(policy.rule, mass, &keys[span.clone()], &keys_q[span], d);
                        Ok(select(&score, t, layout, policy.budget)?)
                    };
                    banded_attention_with_anchors(
                        q,
                        shape,
                        exact(),
                        bulk,
                        &rule,
                        Some(&choose),
                        measure_error,
                    )?
                }
                _ => banded_attention(q, shape, exact(), bulk, &rule, measure_error)?,
            }
        };
        let (error_sum, error_count) = match &fp16_copy {
            Some((keys, values)) => {
                attention_error(q, shape, &LayerKv { keys, values }, &result.output)
            }
            _ => (result.error_sum, result.error_count),
        };
        // A probe's fp16 layers have no error to average in.
        if method != Method::Fp16 || self.method == Method::Fp16 {
            self.error_sum += error_sum;
            self.error_count += error_count;
        }
        Ok(result.output)
    }
}

/// Rounds every token (rows of `d` elements) to the window's precision: the sinks and the
/// window are held at it, and a token's codes are made from its row later, as a flush from
/// the window would. Anchors are read from these rows, so they are held at the window's
/// precision too.
fn round_window_rows(data: &mut [f32], d: usize, window: WindowPrecision) {
    data.par_chunks_mut(d)
        .for_each(|row| window.round_trip_row(row));
}

/// Each token's anchor score for one KV head (`keys`, `keys_q`: its exact and quantized keys,
/// `[T, D]`; `mass`: the attention it received while in the window).
fn anchor_scores(
    rule: AnchorRule,
    mass: &[f32],
    keys: &[f32],
    keys_q: &[f32],
    d: usize,
) -> Vec<f32> {
    let norm = |x: &mut dyn Iterator<Item = f32>| x.map(|v| v * v).sum::<f32>().sqrt();
    match rule {
        AnchorRule::Attention => mass.to_vec(),
        AnchorRule::Norm => keys
            .chunks_exact(d)
            .map(|k| norm(&mut k.iter().copied()))
            .collect(),
        AnchorRule::Error => keys
            .chunks_exact(d)
            .zip(keys_q.chunks_exact(d))
            .map(|(k, kq)| norm(&mut k.iter().zip(kq).map(|(a, b)| a - b)))
            .collect(),
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
    logits_nll(model, &logits, window)
}

/// [`window_nll`] from the window's logits `[T, vocab]`.
pub fn logits_nll(
    model: &Llama,
    logits: &vecinfer_model::Tensor,
    window: &[u32],
) -> Result<(f64, usize)> {
    let vocab = model.config().vocab;
    let flat = logits
        .flatten_all()
        .map_err(vecinfer_model::ModelError::from)?
        .to_vec1::<f32>()
        .map_err(vecinfer_model::ModelError::from)?;
    let per_position: Vec<f64> = (1..window.len())
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
        .collect();
    // Summed in order: a parallel sum's tree follows work stealing, so equal runs could
    // differ in the last bit (and tests compare plans by exact perplexity).
    let nll: f64 = per_position.iter().sum();
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
    /// Tokens held as codes at the end of each window, summed over windows (the others are
    /// in fp16: sinks and the residual window).
    pub coded_tokens: usize,
    /// Mean over layers, heads and sampled positions of ‖o − o_fp16‖ / ‖o_fp16‖; `None` where
    /// it was not measured (`--no-attention-error`, or windows too short to sample).
    pub attention_relative_error: Option<f64>,
    pub seconds: f64,
    /// Bits per element at the window's full context, every fp16 token counted.
    pub effective: EffectiveBits,
    /// The anchor policy applied (VQ methods with `--anchors` only).
    pub anchors: Option<AnchorPolicy>,
    /// NLL summed per window, in window order (compare with the GPU eval's, window by window).
    pub window_nll: Vec<f64>,
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
    evaluate_method_with_anchors(
        model,
        windows,
        method,
        codebooks,
        layout,
        None,
        measure_error,
        bar,
    )
}

/// [`evaluate_method`] with anchor tokens (VQ methods only), held at the window's precision
/// (`layout.precision`): they are read from the same rows.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_method_with_anchors(
    model: &Llama,
    windows: &[&[u32]],
    method: Method,
    codebooks: Option<&CodebookSet>,
    layout: CacheLayout,
    anchors: Option<AnchorPolicy>,
    measure_error: bool,
    bar: &ProgressBar,
) -> Result<MethodResult> {
    let codebooks = codebooks.map(Codebooks::Set);
    let options = (anchors, None, measure_error);
    evaluate_codebooks(model, windows, method, codebooks, layout, options, bar)
}

/// [`evaluate_method_with_anchors`] with codebooks of any kind (one set, or a layer-wise plan)
/// and, in `(anchors, only_layers, measure_error)`, optionally only some layers quantized (the
/// others an exact fp16 cache, counted at 16 bits).
pub fn evaluate_codebooks(
    model: &Llama,
    windows: &[&[u32]],
    method: Method,
    codebooks: Option<Codebooks<'_>>,
    layout: CacheLayout,
    (anchors, only_layers, measure_error): (Option<AnchorPolicy>, Option<&[usize]>, bool),
    bar: &ProgressBar,
) -> Result<MethodResult> {
    let layers = model.config().layers;
    if let Some(&bad) = only_layers.into_iter().flatten().find(|&&l| l >= layers) {
        return Err(CliError::BadOption {
            option: "--only-layers",
            given: bad.to_string(),
            valid: format!("layers 0 to {}", layers - 1),
        });
    }
    let coded_tokens = coded_tokens(method, windows, layout)?;
    let anchors = anchors.filter(|_| matches!(method, Method::Vq(_)));
    let start = Instant::now();
    let mut backend = QuantizedAttention::new(method, None, layout, measure_error);
    backend.codebooks = codebooks;
    backend.anchors = anchors;
    backend.only_layers = only_layers.map(<[usize]>::to_vec);
    let (mut nll, mut count) = (0.0, 0);
    let mut per_window = Vec::with_capacity(windows.len());
    for window in windows {
        let (n, c) = window_nll(model, window, &mut backend)?;
        nll += n;
        count += c;
        per_window.push(n);
        bar.inc(1);
    }
    let at = (layout, context(windows), anchors.map(|a| a.budget));
    let ((key_bits, value_bits), effective) =
        method_bits(method, codebooks, at, layers, only_layers)?;
    Ok(MethodResult {
        method: method.name().to_string(),
        key_bits,
        value_bits,
        perplexity: (nll / count as f64).exp(),
        nll_sum: nll,
        tokens_scored: count,
        coded_tokens,
        attention_relative_error: (backend.error_count > 0)
            .then(|| backend.error_sum / backend.error_count as f64),
        seconds: start.elapsed().as_secs_f64(),
        effective,
        anchors,
        window_nll: per_window,
    })
}

/// A method's code bits of K and V and its effective bits, the means over the model's
/// `layers` ([`Codebooks::layer_bits`]); with `only`, the other layers hold fp16 (16 bits).
pub fn method_bits(
    method: Method,
    codebooks: Option<Codebooks<'_>>,
    at: (CacheLayout, usize, Option<AnchorBudget>),
    layers: usize,
    only: Option<&[usize]>,
) -> Result<((f64, f64), EffectiveBits)> {
    if let Some(c) = codebooks {
        return Ok(c.layer_bits(method, at, layers, only)?);
    }
    // Without codebooks every quantized layer costs the same.
    let share = only.map_or(1.0, |o| o.len() as f64 / layers.max(1) as f64);
    let blend = |bits: f64| share * bits + (1.0 - share) * 16.0;
    let (k, v) = method.bits_per_element(None);
    let e = method.effective_bits(None, at.0, at.1, at.2);
    let effective = EffectiveBits {
        key_bits: blend(e.key_bits),
        value_bits: blend(e.value_bits),
        bits: blend(e.bits),
        ..e
    };
    Ok(((blend(k), blend(v)), effective))
}

/// `eval`'s codebooks: `--codebooks FILE` (a `calibrate` file or a plan file), with the layers
/// of each `--layer-codebooks LAYERS=FILE` served by that file instead (a layer-wise bit
/// allocation; only over a single-set base).
pub fn load_plan(base: Option<&Path>, layer_files: &[String]) -> Result<Option<CodebookPlan>> {
    let Some(base) = base else {
        if let Some(given) = layer_files.first() {
            return Err(CliError::BadOption {
                option: "--layer-codebooks",
                given: given.clone(),
                valid: "with --codebooks FILE, which serves the layers not named".into(),
            });
        }
        return Ok(None);
    };
    let base = CodebookPlan::load(base)?;
    if layer_files.is_empty() {
        return Ok(Some(base));
    }
    let label = base.label();
    let base_set = base.into_uniform().ok_or_else(|| CliError::BadOption {
        option: "--layer-codebooks",
        given: format!("with a plan file ({label})"),
        valid: "name the plan's layers when it is made (calibrate --layer-codecs, or vecinfer plan), or give a single-set --codebooks".into(),
    })?;
    let mut overrides = Vec::with_capacity(layer_files.len());
    for given in layer_files {
        let Some((layers, file)) = given.split_once('=') else {
            return Err(CliError::BadOption {
                option: "--layer-codebooks",
                given: given.clone(),
                valid: "LAYERS=FILE, e.g. 17-18,20,23=k3.safetensors".into(),
            });
        };
        let layers = parse_layer_list(layers)?;
        let set = CodebookSet::load(Path::new(file))?;
        overrides.push((set, layers));
    }
    let plan = CodebookPlan::layered(base_set, overrides).map_err(|e| {
        CliError::Invalid(format!(
            "--layer-codebooks: {e} (in order: {})",
            layer_files
                .iter()
                .enumerate()
                .map(|(i, f)| format!("#{} {f}", i + 1))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    Ok(Some(plan))
}

/// Every VQ method in `methods` needs its key transform in every file of the plan; which
/// layers' file lacks it, before any work.
pub fn check_plan_transforms(plan: &CodebookPlan, methods: &[Method]) -> Result<()> {
    for method in methods {
        let Method::Vq(transform) = method else {
            continue;
        };
        for part in plan.parts() {
            if !part.set.keys.contains_key(transform.name()) {
                return Err(CliError::Invalid(format!(
                    "method {method}: the codebooks of layers {} hold no key codebooks for it (calibrated: {}); calibrate that file with --methods {method}",
                    vecinfer_quant::plan::layer_list(&part.layers),
                    part.set.keys.keys().copied().collect::<Vec<_>>().join(", ")
                )));
            }
        }
    }
    Ok(())
}

/// `eval`'s window precision: `--window` as given, else int8. Anchors are kept rows of the
/// window, so they take its precision.
pub fn eval_window(given: Option<&str>) -> Result<WindowPrecision> {
    Ok(match given {
        Some(w) => w.parse()?,
        None => WindowPrecision::Int8,
    })
}

/// The context the bits are stated at: the longest window.
pub fn context(windows: &[&[u32]]) -> usize {
    windows.iter().map(|w| w.len()).max().unwrap_or(0)
}

/// Tokens held as codes at the end of each window, summed; an error for a quantizing method
/// that would code none (every window fits in the sinks and the residual window), since its
/// row would report the codec's bits for an fp16 cache.
pub fn coded_tokens(method: Method, windows: &[&[u32]], layout: CacheLayout) -> Result<usize> {
    let coded: usize = windows
        .iter()
        .map(|w| method.quantized_span(w.len(), layout).len())
        .sum();
    if method != Method::Fp16 && coded == 0 {
        return Err(CliError::NothingQuantized {
            method: method.name().to_string(),
            window: windows.iter().map(|w| w.len()).max().unwrap_or(0),
            sinks: layout.sinks,
            residual: layout.residual,
            extra: if method == Method::Kivi2 {
                format!(" + {} (KIVI codes keys in groups of {0})", kivi::GROUP)
            } else {
                String::new()
            },
        });
    }
    Ok(coded)
}

/// A plain-text table of results; ΔPPL is against the fp16 row when there is one.
pub fn format_table(results: &[MethodResult]) -> String {
    let fp16 = results
        .iter()
        .find(|r| r.method == "fp16")
        .map(|r| r.perplexity);
    let ctx = results.first().map_or(0, |r| r.effective.ctx);
    let mut out = format!(
        "code bits: of a coded token; at ctx {ctx}: per element with every fp16 and int8 token (sinks, window, anchors) counted\n{:<12} {:>6} {:>6} {:>6} {:>8} {:>8} {:>6} {:>9} {:>8} {:>10} {:>8}\n",
        "method",
        "window",
        "K code",
        "V code",
        "K @ctx",
        "V @ctx",
        "bits",
        "PPL",
        "ΔPPL %",
        "attn err",
        "seconds"
    );
    for r in results {
        let delta = fp16
            .map(|f| format!("{:+.2}", 100.0 * (r.perplexity / f - 1.0)))
            .unwrap_or_else(|| "-".into());
        out += &format!(
            "{:<12} {:>6} {:>6.2} {:>6.2} {:>8.3} {:>8.3} {:>6.3} {:>9.3} {:>8} {:>10} {:>8.1}\n",
            r.method,
            if r.method == "fp16" {
                "-"
            } else {
                r.effective.window.name()
            },
            r.key_bits,
            r.value_bits,
            r.effective.key_bits,
            r.effective.value_bits,
            r.effective.bits,
            r.perplexity,
            delta,
            r.attention_relative_error
                .map_or("-".into(), |e| format!("{e:.4}")),
            r.seconds
        );
    }
    out
}

/// Whether codebooks fit the model: shapes must match (an error otherwise); a different
/// model id is a warning (returned, [`name_warning`]).
pub fn check_codebooks(
    plan: &CodebookPlan,
    model: &vecinfer_model::LlamaConfig,
    model_id: &str,
) -> Result<Option<String>> {
    let meta = plan.meta();
    if (meta.layers, meta.kv_heads, meta.head_dim) != (model.layers, model.kv_heads, model.head_dim)
    {
        return Err(CliError::Invalid(format!(
            "codebooks are for {} layers × {} KV heads × dim {} ({}), the model has {} × {} × {}",
            meta.layers,
            meta.kv_heads,
            meta.head_dim,
            meta.model_id,
            model.layers,
            model.kv_heads,
            model.head_dim
        )));
    }
    Ok(name_warning(plan, model_id))
}

/// A warning for the parts of `plan` calibrated under a model name other than `model_id`
/// (a file's stem): a renamed copy of the same model is fine, but codebooks calibrated on
/// another model with the same shapes give poor results silently.
pub fn name_warning(plan: &CodebookPlan, model_id: &str) -> Option<String> {
    let mut others: Vec<(&str, Vec<usize>)> = Vec::new();
    for part in plan.parts() {
        let id = part.set.meta.model_id.as_str();
        if id == model_id {
            continue;
        }
        match others.iter_mut().find(|(other, _)| *other == id) {
            Some((_, layers)) => layers.extend(&part.layers),
            None => others.push((id, part.layers.clone())),
        }
    }
    if others.is_empty() {
        return None;
    }
    let all = others.len() == 1 && others[0].1.len() == plan.meta().layers;
    let which: Vec<String> = others
        .into_iter()
        .map(|(id, mut layers)| {
            layers.sort_unstable();
            if all {
                format!("{id:?}")
            } else {
                format!("{id:?} (layers {})", layer_list(&layers))
            }
        })
        .collect();
    Some(format!(
        "warning: the codebooks were calibrated on model {}, this is model {model_id:?}: the shapes match, but codebooks from another model quantize poorly; calibrate on this model unless it is a renamed copy",
        which.join(" and ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vecinfer_quant::KeyTransform;

    #[test]
    fn eval_holds_the_window_as_int8_unless_told() {
        assert_eq!(eval_window(None).unwrap(), WindowPrecision::Int8);
        assert_eq!(eval_window(Some("fp16")).unwrap(), WindowPrecision::Fp16);
        assert!(eval_window(Some("int4")).is_err());
    }

    #[test]
    fn windows_within_sinks_and_residual_are_refused_for_quantizing_methods() {
        let window: Vec<u32> = (0..132).collect();
        let wins = [window.as_slice()];
        let layout = CacheLayout {
            sinks: 4,
            residual: 128,
            ..CacheLayout::default()
        };
        let vq = Method::Vq(KeyTransform::BOTH);
        let err = coded_tokens(vq, &wins, layout).unwrap_err().to_string();
        assert!(
            err.contains("vecinfer would quantize nothing") && err.contains("132 tokens"),
            "{err}"
        );
        assert_eq!(coded_tokens(Method::Fp16, &wins, layout).unwrap(), 0);
        let longer: Vec<u32> = (0..140).collect();
        assert_eq!(coded_tokens(vq, &[longer.as_slice()], layout).unwrap(), 8);
        let err = coded_tokens(Method::Kivi2, &[longer.as_slice()], layout)
            .unwrap_err()
            .to_string();
        assert!(err.contains("groups of 32"), "{err}");
    }

    #[test]
    fn anchor_scores_per_rule() {
        let keys = [3.0, 4.0, 0.0, 1.0];
        let quantized = [3.0, 3.0, 0.0, 0.0];
        let mass = [0.25, 0.5];
        let score = |rule| anchor_scores(rule, &mass, &keys, &quantized, 2);
        assert_eq!(score(AnchorRule::Norm), vec![5.0, 1.0]);
        assert_eq!(score(AnchorRule::Error), vec![1.0, 1.0]);
        assert_eq!(score(AnchorRule::Attention), vec![0.25, 0.5]);
    }

    fn row(error: Option<f64>) -> MethodResult {
        MethodResult {
            method: "vq".into(),
            key_bits: 2.0,
            value_bits: 2.0,
            perplexity: 30.0,
            nll_sum: 1.0,
            tokens_scored: 10,
            coded_tokens: 5,
            attention_relative_error: error,
            seconds: 1.0,
            effective: Method::Kivi2.effective_bits(None, CacheLayout::default(), 2048, None),
            anchors: None,
            window_nll: vec![1.0],
        }
    }

    #[test]
    fn the_window_precision_rounds_every_row_the_sinks_included() {
        // 2 KV heads × 6 tokens × dim 4, values no int8 grid of absmax / 127 holds exactly.
        let (t, d) = (6, 4);
        let data: Vec<f32> = (0..2 * t * d).map(|i| 1.0 + 0.1234 * i as f32).collect();
        let mut rounded = data.clone();
        round_window_rows(&mut rounded, d, WindowPrecision::Int8);
        for (r, (a, b)) in data.chunks(d).zip(rounded.chunks(d)).enumerate() {
            assert_ne!(a, b, "row {r} kept fp16");
            // The stored codes' values, by hand: q = round(x / s), each read as f16(q · s).
            let absmax = a.iter().fold(0f32, |m, x| m.max(x.abs()));
            let s = vecinfer_quant::window::int8_scale(a).unwrap().to_f32();
            assert!(s >= absmax / 127.0 && s < absmax / 127.0 * 1.001, "{s}");
            for (x, y) in a.iter().zip(b) {
                let q = (x / s).round();
                assert_eq!(*y, half::f16::from_f32(q * s).to_f32(), "row {r}");
            }
        }
        let mut same = data.clone();
        round_window_rows(&mut same, d, WindowPrecision::Fp16);
        assert_eq!(same, data);
    }

    #[test]
    fn the_attention_error_of_an_int8_window_is_against_the_fp16_cache() {
        use vecinfer_quant::synthetic::{random_codebook_set, random_vec, rng};
        let (t, d) = (32, 64);
        let set = random_codebook_set(
            3,
            "d4b8".parse().unwrap(),
            "d4b8".parse().unwrap(),
            vecinfer_quant::Granularity::Layer,
            1,
            1,
            d,
        );
        let mut r = rng(5);
        let (q, k, v) = (
            random_vec(&mut r, t * d, 1.0),
            random_vec(&mut r, t * d, 1.0),
            random_vec(&mut r, t * d, 1.0),
        );
        let shape = HeadShape {
            q_heads: 1,
            kv_heads: 1,
            head_dim: d,
            tokens: t,
        };
        // Every token in the window: the only error is the window's own.
        let layout = CacheLayout {
            sinks: 0,
            residual: t,
            ..CacheLayout::default()
        };
        let error = |window: WindowPrecision| {
            let method = Method::Vq(vecinfer_quant::KeyTransform::BOTH);
            let layout = CacheLayout {
                precision: window,
                ..layout
            };
            let mut backend = QuantizedAttention::new(method, Some(&set), layout, true);
            backend.attend(0, &q, &k, &v, shape).unwrap();
            assert_eq!(backend.error_count, 2, "positions 15 and 31");
            backend.error_sum / backend.error_count as f64
        };
        assert!(error(WindowPrecision::Fp16) < 1e-6, "float rounding only");
        let int8 = error(WindowPrecision::Int8);
        // Half a step of absmax / 127 per element: well under 1%, and not zero.
        assert!(int8 > 1e-5 && int8 < 1e-2, "{int8}");
    }

    #[test]
    fn an_unmeasured_attention_error_is_null_not_zero() {
        let json = serde_json::to_value(row(None)).unwrap();
        assert!(json["attention_relative_error"].is_null(), "{json}");
        assert_eq!(json["coded_tokens"], 5);
        let table = format_table(&[row(None)]);
        let last = table.lines().nth(2).unwrap();
        assert!(last.contains(" - ") && !last.contains("0.0000"), "{table}");
        assert!(format_table(&[row(Some(0.25))]).contains("0.2500"));
    }

    #[test]
    fn codebooks_from_another_model_warn_and_other_shapes_fail() {
        let set = |id: &str| {
            let mut set = vecinfer_quant::synthetic::random_codebook_set(
                1,
                "d4b8".parse().unwrap(),
                "d4b8".parse().unwrap(),
                vecinfer_quant::Granularity::Layer,
                2,
                1,
                64,
            );
            set.meta.model_id = id.into();
            set
        };
        let model = vecinfer_model::LlamaConfig {
            name: "m".into(),
            layers: 2,
            embedding: 128,
            feed_forward: 256,
            q_heads: 2,
            kv_heads: 1,
            head_dim: 64,
            rope_base: 10000.0,
            rms_eps: 1e-5,
            context: 2048,
            vocab: 100,
        };
        let plan = CodebookPlan::uniform(set("model-a"));
        assert_eq!(check_codebooks(&plan, &model, "model-a").unwrap(), None);
        let warning = check_codebooks(&plan, &model, "model-b").unwrap().unwrap();
        assert!(
            warning.contains("calibrated on model \"model-a\", this is model \"model-b\""),
            "{warning}"
        );
        // A plan with one part from a renamed copy: that part's name and layers.
        let mixed =
            CodebookPlan::layered(set("model-a"), vec![(set("copy-of-a"), vec![1])]).unwrap();
        let warning = check_codebooks(&mixed, &model, "model-a").unwrap().unwrap();
        assert!(
            warning.contains(
                "calibrated on model \"copy-of-a\" (layers 1), this is model \"model-a\""
            ),
            "{warning}"
        );
        let other = vecinfer_model::LlamaConfig { layers: 3, ..model };
        assert!(check_codebooks(&plan, &other, "model-a").is_err());
    }
}
