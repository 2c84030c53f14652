//! Causal attention over one window, exact or with a partly quantized cache.
//!
//! With a quantized cache, query position `t` reads the tokens of `span(t+1)` from the quantized
//! cache and the others (sink tokens before the span, the residual window after it) from fp16.
//! The quantized part is one GEMM per KV head over the whole window (`Q·K̂ᵀ`, then `P·V̂`); the
//! fp16 tokens, at most a few hundred per row, are computed directly and replace the GEMM's
//! entries. For the fp16 cache the "quantized" tensors are the fp16 ones and the span is all.

use crate::error::Result;
use crate::llama::HeadShape;
use candle_core::{Device, Tensor};
use rayon::prelude::*;
use vecinfer_quant::anchors::AnchorSpan;

/// With `n` tokens cached, the tokens a query reads from the bulk (GEMM) tensors.
pub type SpanRule<'a> = &'a (dyn Fn(usize) -> std::ops::Range<usize> + Sync);

/// K and V of one layer and window, row-major `[kv_heads, T, D]`.
pub struct LayerKv<'a> {
    pub keys: &'a [f32],
    pub values: &'a [f32],
}

/// Attention output `[q_heads, T, D]` (row-major) and, if asked, the summed relative error
/// against exact attention over a subset of positions.
pub struct AttentionResult {
    pub output: Vec<f32>,
    pub error_sum: f64,
    pub error_count: usize,
}

/// Positions whose error against exact attention is measured: every `ERROR_STRIDE`-th, which
/// keeps the measurement cheap and still covers every layer, head and distance.
pub const ERROR_STRIDE: usize = 16;

/// Causal attention with `q` `[q_heads, T, D]`; `bulk` holds what the quantized cache returns
/// (dequantized), `exact` the fp16 cache; `rule(n)` = which of `n` cached tokens are read from
/// `bulk`.
pub fn banded_attention(
    q: &[f32],
    shape: HeadShape,
    exact: LayerKv<'_>,
    bulk: LayerKv<'_>,
    rule: SpanRule<'_>,
    measure_error: bool,
) -> Result<AttentionResult> {
    banded_attention_with_anchors(q, shape, exact, bulk, rule, None, measure_error)
}

/// Chooses the anchor tokens of one KV head (`head`) from the attention mass each token
/// received while it was in the window (`mass[j]`, summed over the head's query group;
/// the probabilities are those of the cache without anchors, a close stand-in for a decoder's
/// own). Returns, per anchor, the token and the cache lengths at which it is read as a row.
pub type AnchorChooser<'a> = &'a (dyn Fn(usize, &[f32]) -> Result<Vec<AnchorSpan>> + Sync);

/// [`banded_attention`] with anchors: tokens of the quantized span that the chooser keeps as
/// `exact` rows (the window's: fp16, or int8-rounded by the caller) at some cache lengths.
pub fn banded_attention_with_anchors(
    q: &[f32],
    shape: HeadShape,
    exact: LayerKv<'_>,
    bulk: LayerKv<'_>,
    rule: SpanRule<'_>,
    anchors: Option<AnchorChooser<'_>>,
    measure_error: bool,
) -> Result<AttentionResult> {
    let HeadShape {
        q_heads,
        kv_heads,
        head_dim: d,
        tokens: t,
    } = shape;
    let per_head = [
        ("queries", q.len() / q_heads),
        ("keys", exact.keys.len() / kv_heads),
        ("quantized keys", bulk.keys.len() / kv_heads),
    ];
    for (what, len) in per_head {
        if len != t * d {
            return Err(crate::ModelError::InvalidInput(format!(
                "{what}: {len} values per head, expected {t} tokens × {d}"
            )));
        }
    }
    let group = q_heads / kv_heads;
    let rows = group * t;
    let scale = 1.0 / (d as f32).sqrt();
    let dev = Device::Cpu;
    let mut probs = grouped_scores(q, bulk.keys, (kv_heads, rows, t, d), scale)?;

    // The fp16 tokens of a row other than anchors: sinks before the span, the window after.
    let fp16_tokens = |pos: usize| {
        let span = rule(pos + 1);
        (0..span.start.min(pos + 1)).chain(span.end.max(span.start)..=pos)
    };
    let exact_score = |head: usize, query: &[f32], j: usize| {
        dot(
            query,
            &exact.keys[(head * t + j) * d..(head * t + j + 1) * d],
        ) * scale
    };

    // With anchors: first the rows' scores without them, the window's attention mass, then
    // the choice of anchors per KV head.
    let chosen: Vec<Vec<AnchorSpan>> = match anchors {
        None => vec![Vec::new(); kv_heads],
        Some(choose) => {
            let log_norms: Vec<f32> = probs
                .par_chunks_mut(t)
                .enumerate()
                .map(|(r, row)| {
                    let (head, pos) = (r / rows, r % t);
                    let query = &q[r * d..(r + 1) * d];
                    for j in fp16_tokens(pos) {
                        row[j] = exact_score(head, query, j);
                    }
                    let live = &row[..=pos];
                    let max = live.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                    max + live.iter().map(|s| (s - max).exp()).sum::<f32>().ln()
                })
                .collect();
            (0..kv_heads)
                .into_par_iter()
                .map(|head| {
                    let mut mass = vec![0f32; t];
                    for r in head * rows..(head + 1) * rows {
                        let pos = r % t;
                        let span = rule(pos + 1);
                        let window = span.end.max(span.start)..=pos;
                        let row = &probs[r * t..(r + 1) * t];
                        for j in window {
                            mass[j] += (row[j] - log_norms[r]).exp();
                        }
                    }
                    choose(head, &mass)
                })
                .collect::<Result<_>>()?
        }
    };

    let mut band_out = vec![0f32; kv_heads * rows * d];
    probs
        .par_chunks_mut(t)
        .zip(band_out.par_chunks_mut(d))
        .enumerate()
        .for_each(|(r, (row, out))| {
            let (head, pos) = (r / rows, r % t);
            let query = &q[r * d..(r + 1) * d];
            let span = rule(pos + 1);
            let anchored = chosen[head]
                .iter()
                .filter(|a| a.active(pos + 1) && span.contains(&a.token))
                .map(|a| a.token);
            let read_fp16 = || fp16_tokens(pos).chain(anchored.clone());
            for j in read_fp16() {
                row[j] = exact_score(head, query, j);
            }
            let live = &mut row[..=pos];
            let max = live.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let mut total = 0f32;
            for s in live.iter_mut() {
                *s = (*s - max).exp();
                total += *s;
            }
            let inv = 1.0 / total;
            live.iter_mut().for_each(|s| *s *= inv);
            // The fp16 tokens' share of the output, then their probabilities leave the GEMM.
            let values = &exact.values[head * t * d..(head + 1) * t * d];
            for j in read_fp16() {
                let p = row[j];
                out.iter_mut()
                    .zip(&values[j * d..(j + 1) * d])
                    .for_each(|(o, v)| *o += p * v);
                row[j] = 0.0;
            }
            row[pos + 1..].fill(0.0);
        });
    let p = Tensor::from_vec(probs, (kv_heads, rows, t), &dev)?;
    let vb = Tensor::from_slice(bulk.values, (kv_heads, t, d), &dev)?;
    let mut output = p.matmul(&vb)?.flatten_all()?.to_vec1::<f32>()?;
    output.iter_mut().zip(&band_out).for_each(|(o, b)| *o += b);

    let (error_sum, error_count) = if measure_error {
        attention_error(q, shape, &exact, &output)
    } else {
        (0.0, 0)
    };
    Ok(AttentionResult {
        output,
        error_sum,
        error_count,
    })
}

/// The relative error `‖o − o_ref‖ / ‖o_ref‖` of `output` (`[q_heads, T, D]`) against exact
/// attention over `reference`, summed over every `ERROR_STRIDE`-th position of every query
/// head, and the count of positions measured.
pub fn attention_error(
    q: &[f32],
    shape: HeadShape,
    reference: &LayerKv<'_>,
    output: &[f32],
) -> (f64, usize) {
    let HeadShape {
        q_heads,
        kv_heads,
        head_dim: d,
        tokens: t,
    } = shape;
    let rows = q_heads / kv_heads * t;
    let scale = 1.0 / (d as f32).sqrt();
    let errors: Vec<f64> = (0..kv_heads * rows)
        .into_par_iter()
        .filter(|r| (r % t) % ERROR_STRIDE == ERROR_STRIDE - 1)
        .map(|r| {
            let (head, pos) = (r / rows, r % t);
            let exact = exact_row(&q[r * d..(r + 1) * d], reference, head, t, d, pos, scale);
            let got = &output[r * d..(r + 1) * d];
            let diff: f32 = got.iter().zip(&exact).map(|(a, b)| (a - b) * (a - b)).sum();
            let norm: f32 = exact.iter().map(|a| a * a).sum();
            (diff.sqrt() / norm.sqrt().max(1e-12)) as f64
        })
        .collect();
    (errors.iter().sum(), errors.len())
}

/// Exact attention for one query row over keys `0..=pos` of one head.
fn exact_row(
    query: &[f32],
    kv: &LayerKv<'_>,
    head: usize,
    t: usize,
    d: usize,
    pos: usize,
    scale: f32,
) -> Vec<f32> {
    let keys = &kv.keys[head * t * d..(head + 1) * t * d];
    let values = &kv.values[head * t * d..(head + 1) * t * d];
    let scores: Vec<f32> = (0..=pos)
        .map(|j| dot(query, &keys[j * d..(j + 1) * d]) * scale)
        .collect();
    let max = scores.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let weights: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
    let total: f32 = weights.iter().sum();
    let mut out = vec![0f32; d];
    for (j, w) in weights.iter().enumerate() {
        out.iter_mut()
            .zip(&values[j * d..(j + 1) * d])
            .for_each(|(o, v)| *o += w / total * v);
    }
    out
}

#[inline]
/// `scale · q kᵀ` per KV head, `[kv_heads, rows, t]` flattened: the queries of one KV head's
/// group (`rows` = group × t) become the rows of one GEMM against that head's `t` keys.
fn grouped_scores(
    q: &[f32],
    keys: &[f32],
    (kv_heads, rows, t, d): (usize, usize, usize, usize),
    scale: f32,
) -> Result<Vec<f32>> {
    let dev = Device::Cpu;
    let qg = Tensor::from_slice(q, (kv_heads, rows, d), &dev)?;
    let kb = Tensor::from_slice(keys, (kv_heads, t, d), &dev)?;
    Ok((qg.matmul(&kb.t()?)? * scale as f64)?
        .flatten_all()?
        .to_vec1::<f32>()?)
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight partial sums so the loop vectorises.
    let mut acc = [0f32; 8];
    for (ca, cb) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for l in 0..8 {
            acc[l] += ca[l] * cb[l];
        }
    }
    let tail: f32 = a
        .chunks_exact(8)
        .remainder()
        .iter()
        .zip(b.chunks_exact(8).remainder())
        .map(|(x, y)| x * y)
        .sum();
    acc.iter().sum::<f32>() + tail
}

/// What each token of one window receives from the causal attention of its KV head's query
/// group (exact attention, softmax over `0..=pos`), per KV head `[kv_heads, T]`, summed over
/// the query rows `r` (G heads × positions) that are at least `min_distance` positions after
/// the token (`min_distance = 0`: every row that sees it):
/// - `mass[j] = Σ_r p_rj`, the attention mass it receives;
/// - `squared[j] = Σ_r p_rj²`: with independent value errors `e_j` the output error is
///   `Σ_j p_rj e_j`, of expected square `Σ_j p_rj² ‖e_j‖²`;
/// - `key_fisher[j] = Σ_r p_rj² ‖v_j − o_r‖²`: a score error `δ_rj` moves the output by
///   `p_rj δ_rj (v_j − o_r)` (`o_r` the row's output), so independent key errors cost this
///   weight times `E[δ²]`.
///
/// Used by calibration to weigh k-means; the sums run over fixed row chunks in order, so the
/// result does not depend on the thread count.
pub struct ReceivedAttention {
    pub mass: Vec<f32>,
    pub squared: Vec<f32>,
    pub key_fisher: Vec<f32>,
}

/// Rows per parallel work item of [`received_attention`] (fixed, for determinism).
const RECEIVED_CHUNK: usize = 128;

/// [`ReceivedAttention`] of one layer and window; `q` `[q_heads, T, D]`, `kv` `[kv_heads, T, D]`.
pub fn received_attention(
    q: &[f32],
    kv: LayerKv<'_>,
    shape: HeadShape,
    min_distance: usize,
) -> Result<ReceivedAttention> {
    let HeadShape {
        q_heads,
        kv_heads,
        head_dim: d,
        tokens: t,
    } = shape;
    for (what, len, heads) in [
        ("queries", q.len(), q_heads),
        ("keys", kv.keys.len(), kv_heads),
        ("values", kv.values.len(), kv_heads),
    ] {
        if len != heads * t * d {
            return Err(crate::ModelError::InvalidInput(format!(
                "{what}: {len} values, expected {heads} heads × {t} tokens × {d}"
            )));
        }
    }
    let group = q_heads / kv_heads;
    let rows = group * t;
    let scale = 1.0 / (d as f32).sqrt();
    let dev = Device::Cpu;
    let vb = Tensor::from_slice(kv.values, (kv_heads, t, d), &dev)?;
    let mut probs = grouped_scores(q, kv.keys, (kv_heads, rows, t, d), scale)?;
    probs.par_chunks_mut(t).enumerate().for_each(|(r, row)| {
        let pos = r % t;
        let live = &mut row[..=pos];
        let max = live.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let mut total = 0f32;
        for s in live.iter_mut() {
            *s = (*s - max).exp();
            total += *s;
        }
        let inv = 1.0 / total;
        live.iter_mut().for_each(|s| *s *= inv);
        row[pos + 1..].fill(0.0);
    });
    // o_r = Σ_j p_rj v_j and o_r · v_j for every pair: two GEMMs per KV head.
    let p = Tensor::from_slice(&probs, (kv_heads, rows, t), &dev)?;
    let out = p.matmul(&vb)?;
    let cross = out.matmul(&vb.t()?)?.flatten_all()?.to_vec1::<f32>()?;
    let out = out.flatten_all()?.to_vec1::<f32>()?;
    let value_norms: Vec<f32> = kv
        .values
        .chunks_exact(d)
        .map(|v| v.iter().map(|x| x * x).sum())
        .collect();

    let mut result = ReceivedAttention {
        mass: vec![0f32; kv_heads * t],
        squared: vec![0f32; kv_heads * t],
        key_fisher: vec![0f32; kv_heads * t],
    };
    for head in 0..kv_heads {
        let head_rows = head * rows..(head + 1) * rows;
        let norms = &value_norms[head * t..(head + 1) * t];
        let partials: Vec<[Vec<f64>; 3]> = head_rows
            .clone()
            .collect::<Vec<_>>()
            .par_chunks(RECEIVED_CHUNK)
            .map(|chunk| {
                let mut part = [vec![0f64; t], vec![0f64; t], vec![0f64; t]];
                for &r in chunk {
                    let pos = r % t;
                    let Some(last) = pos.checked_sub(min_distance) else {
                        continue;
                    };
                    let row = &probs[r * t..(r + 1) * t];
                    let cross_row = &cross[r * t..(r + 1) * t];
                    let o = &out[r * d..(r + 1) * d];
                    let o_norm: f32 = o.iter().map(|x| x * x).sum();
                    for j in 0..=last {
                        let p = row[j] as f64;
                        let spread = (norms[j] + o_norm - 2.0 * cross_row[j]).max(0.0) as f64;
                        part[0][j] += p;
                        part[1][j] += p * p;
                        part[2][j] += p * p * spread;
                    }
                }
                part
            })
            .collect();
        let slots = head * t..(head + 1) * t;
        for (target, which) in [
            (&mut result.mass[slots.clone()], 0),
            (&mut result.squared[slots.clone()], 1),
            (&mut result.key_fisher[slots.clone()], 2),
        ] {
            for (j, slot) in target.iter_mut().enumerate() {
                *slot = partials.iter().map(|p| p[which][j]).sum::<f64>() as f32;
            }
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| (((i as u32).wrapping_mul(2654435761) ^ seed) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    #[test]
    fn matches_exact_attention_when_bulk_is_exact() {
        let (hq, hk, t, d) = (4, 2, 37, 16);
        let q = pseudo(hq * t * d, 1);
        let k = pseudo(hk * t * d, 2);
        let v = pseudo(hk * t * d, 3);
        let rules: [&(dyn Fn(usize) -> std::ops::Range<usize> + Sync); 3] =
            [&|n| 0..n, &|n| 0..n.saturating_sub(5), &|n| {
                2.min(n)..n.saturating_sub(5).max(2.min(n))
            }];
        for rule in rules {
            let r = banded_attention(
                &q,
                HeadShape {
                    q_heads: hq,
                    kv_heads: hk,
                    head_dim: d,
                    tokens: t,
                },
                LayerKv {
                    keys: &k,
                    values: &v,
                },
                LayerKv {
                    keys: &k,
                    values: &v,
                },
                rule,
                true,
            )
            .unwrap();
            assert!(r.error_sum / r.error_count.max(1) as f64 <= 1e-5);
            for row in 0..hq * t {
                let head = row / (hq / hk * t);
                let pos = row % t;
                let want = exact_row(
                    &q[row * d..(row + 1) * d],
                    &LayerKv {
                        keys: &k,
                        values: &v,
                    },
                    head,
                    t,
                    d,
                    pos,
                    1.0 / (d as f32).sqrt(),
                );
                for (a, b) in r.output[row * d..(row + 1) * d].iter().zip(&want) {
                    assert!((a - b).abs() < 1e-5);
                }
            }
        }
    }

    #[test]
    fn reads_bulk_only_before_the_band() {
        let (hq, hk, t, d) = (1, 1, 20, 8);
        let q = pseudo(t * d, 5);
        let k = pseudo(t * d, 6);
        let v = pseudo(t * d, 7);
        let kz = vec![0f32; t * d];
        let vz = vec![0f32; t * d];
        // All-zero bulk values and keys: position `pos` with window 3 sees zeros for j < pos-2.
        let rule = |n: usize| 0..n.saturating_sub(3);
        let r = banded_attention(
            &q,
            HeadShape {
                q_heads: hq,
                kv_heads: hk,
                head_dim: d,
                tokens: t,
            },
            LayerKv {
                keys: &k,
                values: &v,
            },
            LayerKv {
                keys: &kz,
                values: &vz,
            },
            &rule,
            false,
        )
        .unwrap();
        let pos = 10;
        let scale = 1.0 / (d as f32).sqrt();
        let scores: Vec<f32> = (0..=pos)
            .map(|j| {
                if j < pos - 2 {
                    0.0
                } else {
                    dot(&q[pos * d..(pos + 1) * d], &k[j * d..(j + 1) * d]) * scale
                }
            })
            .collect();
        let m = scores.iter().cloned().fold(f32::MIN, f32::max);
        let w: Vec<f32> = scores.iter().map(|s| (s - m).exp()).collect();
        let total: f32 = w.iter().sum();
        for c in 0..d {
            let want: f32 = (pos - 2..=pos).map(|j| w[j] / total * v[j * d + c]).sum();
            assert!((r.output[pos * d + c] - want).abs() < 1e-5);
        }
    }

    #[test]
    fn anchors_are_read_from_fp16_while_active() {
        let (hq, hk, t, d) = (2, 1, 20, 8);
        let q = pseudo(hq * t * d, 8);
        let k = pseudo(t * d, 9);
        let v = pseudo(t * d, 10);
        let kz = vec![0f32; t * d];
        let vz = vec![0f32; t * d];
        let rule = |n: usize| 0..n.saturating_sub(3);
        let seen_mass = std::sync::Mutex::new(Vec::new());
        // Token 2 is an anchor for cache lengths 6..15.
        let choose = |head: usize, mass: &[f32]| {
            assert_eq!(head, 0);
            seen_mass.lock().unwrap().push(mass.to_vec());
            Ok(vec![AnchorSpan {
                token: 2,
                from: 6,
                until: 15,
            }])
        };
        let shape = HeadShape {
            q_heads: hq,
            kv_heads: hk,
            head_dim: d,
            tokens: t,
        };
        let r = banded_attention_with_anchors(
            &q,
            shape,
            LayerKv {
                keys: &k,
                values: &v,
            },
            LayerKv {
                keys: &kz,
                values: &vz,
            },
            &rule,
            Some(&choose),
            false,
        )
        .unwrap();
        let scale = 1.0 / (d as f32).sqrt();
        for (row, pos) in [(10usize, 10usize), (t + 16, 16)] {
            let query = &q[row * d..(row + 1) * d];
            let fp16 = |j: usize| j + 2 >= pos || (j == 2 && (6..15).contains(&(pos + 1)));
            let scores: Vec<f32> = (0..=pos)
                .map(|j| {
                    if fp16(j) {
                        dot(query, &k[j * d..(j + 1) * d]) * scale
                    } else {
                        0.0
                    }
                })
                .collect();
            let m = scores.iter().cloned().fold(f32::MIN, f32::max);
            let w: Vec<f32> = scores.iter().map(|s| (s - m).exp()).collect();
            let total: f32 = w.iter().sum();
            for c in 0..d {
                let want: f32 = (0..=pos)
                    .filter(|&j| fp16(j))
                    .map(|j| w[j] / total * v[j * d + c])
                    .sum();
                assert!((r.output[row * d + c] - want).abs() < 1e-5, "row {row}");
            }
        }
        // Mass: every token's window share, summed over the group's two query rows; a token
        // in the window at every row it can be (j ≤ t - 3) gathers three rows' worth each.
        let mass = seen_mass.into_inner().unwrap().pop().unwrap();
        assert_eq!(mass.len(), t);
        assert!(mass.iter().all(|m| (0.0..=6.0).contains(m)), "{mass:?}");
        assert!(mass[0] > 0.0);
    }
    #[test]
    fn received_attention_matches_a_direct_sum() {
        let (hq, hk, t, d) = (4, 2, 29, 8);
        let q = pseudo(hq * t * d, 4);
        let k = pseudo(hk * t * d, 5);
        let v = pseudo(hk * t * d, 6);
        let shape = HeadShape {
            q_heads: hq,
            kv_heads: hk,
            head_dim: d,
            tokens: t,
        };
        let kv = || LayerKv {
            keys: &k,
            values: &v,
        };
        for min_distance in [0, 3] {
            let got = received_attention(&q, kv(), shape, min_distance).unwrap();
            let mut want = [vec![0f64; hk * t], vec![0f64; hk * t], vec![0f64; hk * t]];
            for row in 0..hq * t {
                let head = row / (hq / hk * t);
                let pos = row % t;
                let query = &q[row * d..(row + 1) * d];
                let scores: Vec<f64> = (0..=pos)
                    .map(|j| {
                        dot(query, &k[(head * t + j) * d..(head * t + j + 1) * d]) as f64
                            / (d as f64).sqrt()
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let total: f64 = scores.iter().map(|s| (s - max).exp()).sum();
                let p: Vec<f64> = scores.iter().map(|s| (s - max).exp() / total).collect();
                let value = |j: usize| &v[(head * t + j) * d..(head * t + j + 1) * d];
                let mut o = vec![0f64; d];
                for (j, pj) in p.iter().enumerate() {
                    o.iter_mut()
                        .zip(value(j))
                        .for_each(|(o, x)| *o += pj * *x as f64);
                }
                for (j, pj) in p
                    .iter()
                    .enumerate()
                    .take((pos + 1).saturating_sub(min_distance))
                {
                    let spread: f64 = value(j)
                        .iter()
                        .zip(&o)
                        .map(|(x, o)| (*x as f64 - o).powi(2))
                        .sum();
                    want[0][head * t + j] += pj;
                    want[1][head * t + j] += pj * pj;
                    want[2][head * t + j] += pj * pj * spread;
                }
            }
            for (got, want) in [&got.mass, &got.squared, &got.key_fisher]
                .into_iter()
                .zip(&want)
            {
                for (a, b) in got.iter().zip(want) {
                    assert!((*a as f64 - b).abs() < 1e-4 * (1.0 + b), "{a} vs {b}");
                }
            }
            // Every row's probabilities sum to 1: without a distance the mass totals the rows.
            if min_distance == 0 {
                let total: f32 = got.mass[..t].iter().sum();
                assert!((total - (hq / hk * t) as f32).abs() < 1e-3, "{total}");
            } else {
                assert!(got.mass[t - min_distance..t].iter().all(|&m| m == 0.0));
            }
        }
    }
}
