//! The reference decode attention (the GPU oracle) against a naive f64 implementation, and
//! against the teacher-forced evaluation path.

use vecinfer_model::{HeadShape, LayerKv, banded_attention};
use vecinfer_quant::method::round_to_f16;
use vecinfer_quant::{
    CacheLayout, DecodeShape, Granularity, KeyTransform, Method, ReferenceKvCache, WindowPrecision,
};
use vecinfer_tests::{outlier_keys, random_codebook_set, random_vec, rng, with_random_rotations};

/// Softmax attention in f64 over keys/values `[len, d]` already in the original space.
fn naive_attention(q: &[f32], keys: &[f32], values: &[f32], d: usize) -> Vec<f64> {
    let scale = 1.0 / (d as f64).sqrt();
    let scores: Vec<f64> = keys
        .chunks_exact(d)
        .map(|k| {
            k.iter()
                .zip(q)
                .map(|(a, b)| *a as f64 * *b as f64)
                .sum::<f64>()
                * scale
        })
        .collect();
    let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
    let total: f64 = w.iter().sum();
    let mut out = vec![0f64; d];
    for (wi, v) in w.iter().zip(values.chunks_exact(d)) {
        for (o, x) in out.iter_mut().zip(v) {
            *o += wi / total * *x as f64;
        }
    }
    out
}

fn relative_error(got: &[f32], want: &[f64]) -> f64 {
    let diff: f64 = got
        .iter()
        .zip(want)
        .map(|(a, b)| (*a as f64 - b).powi(2))
        .sum::<f64>()
        .sqrt();
    let norm: f64 = want.iter().map(|b| b * b).sum::<f64>().sqrt();
    diff / norm.max(1e-30)
}

/// Every output row of `cache.attend(q)` against the naive f64 attention over the keys and
/// values the cache holds, mapped back to the original space.
fn assert_matches_naive(
    cache: &ReferenceKvCache<'_>,
    q: &[f32],
    out: &[f32],
    shape: DecodeShape,
    case: &str,
) {
    let d = shape.head_dim;
    for seq in 0..shape.batch {
        for qh in 0..shape.q_heads {
            let kvh = qh / shape.group();
            let keys = cache.dequantized_keys(seq, kvh).unwrap();
            let values = cache.dequantized_values(seq, kvh);
            let i = (seq * shape.q_heads + qh) * d;
            let want = naive_attention(&q[i..i + d], &keys, &values, d);
            let err = relative_error(&out[i..i + d], &want);
            assert!(err < 1e-4, "{case} seq {seq} head {qh}: {err}");
        }
    }
}

#[test]
fn reference_matches_naive_f64_for_every_codec_transform_and_granularity() {
    let d = 64;
    let shape = DecodeShape {
        batch: 3,
        q_heads: 6,
        kv_heads: 2,
        head_dim: d,
    };
    let lengths = [1usize, 40, 211];
    for (kc, vc) in [
        ("d2b8", "d2b8"),
        ("d4b8", "d4b8"),
        ("d8b12", "d8b8"),
        ("d8b10", "d4b12"),
    ] {
        for granularity in [Granularity::Layer, Granularity::Head] {
            let set = random_codebook_set(7, kc, vc, granularity, 1, shape.kv_heads, d);
            for transform in KeyTransform::ALL {
                for layout in [
                    CacheLayout {
                        sinks: 0,
                        residual: 16,
                        ..CacheLayout::default()
                    },
                    CacheLayout {
                        sinks: 3,
                        residual: 8,
                        ..CacheLayout::default()
                    },
                ] {
                    let mut cache =
                        ReferenceKvCache::new(set.layer(0, transform).unwrap(), shape, layout)
                            .unwrap();
                    let mut r = rng(11);
                    for (seq, &len) in lengths.iter().enumerate() {
                        for _ in 0..len {
                            let k = outlier_keys(&mut r, shape.kv_heads, d);
                            let v = random_vec(&mut r, shape.kv_heads * d, 1.0);
                            cache.append(seq, &k, &v).unwrap();
                        }
                        assert_eq!(cache.len(seq), len);
                        let expected_codes = len
                            .saturating_sub(layout.sinks.min(len))
                            .saturating_sub(layout.residual);
                        assert_eq!(cache.quantized_len(seq), expected_codes);
                    }
                    let q = random_vec(&mut r, shape.batch * shape.q_heads * d, 1.0);
                    let out = cache.attend(&q).unwrap();
                    let case = format!("{kc}/{vc} {granularity} {transform} {layout:?}");
                    assert_matches_naive(&cache, &q, &out, shape, &case);
                }
            }
        }
    }
}

#[test]
fn teacher_forced_evaluation_equals_step_by_step_decoding() {
    let (hk, d) = (2, 64);
    let set = random_codebook_set(3, "d4b8", "d4b8", Granularity::Head, 1, hk, d);
    evaluation_equals_decoding(&set, WindowPrecision::Fp16);
    // An int8 window: the eval rounds every row first (as `vecinfer eval --window int8`
    // does), the cache holds its sinks and window as int8 and flushes from those rows.
    evaluation_equals_decoding(&set, WindowPrecision::Int8);
    // With learned rotations in place of vecinfer's Hadamard.
    evaluation_equals_decoding(&with_random_rotations(set, 4), WindowPrecision::Fp16);
}

/// The evaluation path (quantize the window, banded attention) and the reference cache
/// (append token by token, attend) must agree at every position.
fn evaluation_equals_decoding(set: &vecinfer_quant::CodebookSet, precision: WindowPrecision) {
    let (hq, hk, d, t) = (4, 2, 64, 90);
    let layout = CacheLayout {
        sinks: 2,
        residual: 16,
        precision,
    };
    let mut r = rng(5);
    let mut keys = random_vec(&mut r, hk * t * d, 2.0); // [Hk, T, D]
    let mut values = random_vec(&mut r, hk * t * d, 1.0);
    let q = random_vec(&mut r, hq * t * d, 1.0); // [Hq, T, D]
    round_to_f16(&mut keys);
    round_to_f16(&mut values);
    let (appended_keys, appended_values) = (keys.clone(), values.clone());
    for row in keys.chunks_mut(d).chain(values.chunks_mut(d)) {
        precision.round_trip_row(row);
    }
    for transform in KeyTransform::ALL {
        let method = Method::Vq(transform);
        let (mut kq, mut vq) = (keys.clone(), values.clone());
        method
            .round_trip_layer(Some(set), 0, &mut kq, &mut vq, hk, d)
            .unwrap();
        let rule = |n: usize| method.quantized_span(n, layout);
        let eval = banded_attention(
            &q,
            HeadShape {
                q_heads: hq,
                kv_heads: hk,
                head_dim: d,
                tokens: t,
            },
            LayerKv {
                keys: &keys,
                values: &values,
            },
            LayerKv {
                keys: &kq,
                values: &vq,
            },
            &rule,
            false,
        )
        .unwrap();

        let shape = DecodeShape {
            batch: 1,
            q_heads: hq,
            kv_heads: hk,
            head_dim: d,
        };
        let mut cache =
            ReferenceKvCache::new(set.layer(0, transform).unwrap(), shape, layout).unwrap();
        for pos in 0..t {
            let token = |x: &[f32]| {
                (0..hk)
                    .flat_map(|h| x[(h * t + pos) * d..(h * t + pos + 1) * d].to_vec())
                    .collect::<Vec<f32>>()
            };
            cache
                .append(0, &token(&appended_keys), &token(&appended_values))
                .unwrap();
            let query: Vec<f32> = (0..hq)
                .flat_map(|h| q[(h * t + pos) * d..(h * t + pos + 1) * d].to_vec())
                .collect();
            let step = cache.attend(&query).unwrap();
            for h in 0..hq {
                let want = &eval.output[(h * t + pos) * d..(h * t + pos + 1) * d];
                let got = &step[h * d..(h + 1) * d];
                let want64: Vec<f64> = want.iter().map(|&x| x as f64).collect();
                let err = relative_error(got, &want64);
                assert!(err < 1e-4, "{transform} pos {pos} head {h}: {err}");
            }
        }
    }
}

#[test]
fn learned_rotations_keep_scores_and_the_hadamard_as_a_matrix_changes_nothing() {
    let d = 64;
    let shape = DecodeShape {
        batch: 1,
        q_heads: 6,
        kv_heads: 2,
        head_dim: d,
    };
    let layout = CacheLayout {
        sinks: 2,
        residual: 8,
        ..CacheLayout::default()
    };
    let base = || random_codebook_set(9, "d4b8", "d4b8", Granularity::Layer, 1, 2, d);
    let rotated = with_random_rotations(base(), 5);
    let mut as_matrix = base();
    let h = vecinfer_quant::rotation::hadamard_matrix(d).unwrap();
    as_matrix.rotation = Some(vec![[h.clone(), h].concat()]);
    let plain = base();
    let mut outputs = Vec::new();
    for set in [&plain, &as_matrix, &rotated] {
        let params = set.layer(0, KeyTransform::BOTH).unwrap();
        let mut cache = ReferenceKvCache::new(params, shape, layout).unwrap();
        let mut r = rng(12);
        for _ in 0..150 {
            let k = outlier_keys(&mut r, shape.kv_heads, d);
            let v = random_vec(&mut r, shape.kv_heads * d, 1.0);
            cache.append(0, &k, &v).unwrap();
        }
        let q = random_vec(&mut r, shape.q_heads * d, 1.0);
        let out = cache.attend(&q).unwrap();
        // Whatever the rotation, the scores are those of the keys the cache holds.
        assert_matches_naive(&cache, &q, &out, shape, "rotation");
        outputs.push(out);
    }
    let same = outputs[0]
        .iter()
        .zip(&outputs[1])
        .all(|(a, b)| (a - b).abs() < 1e-4);
    assert!(
        same,
        "the Hadamard as a learned matrix must code as the butterflies do"
    );
    let moved = outputs[0]
        .iter()
        .zip(&outputs[2])
        .any(|(a, b)| (a - b).abs() > 1e-3);
    assert!(moved, "another rotation codes the keys differently");
}

#[test]
fn bad_shapes_are_reported() {
    let set = random_codebook_set(1, "d4b8", "d4b8", Granularity::Layer, 1, 2, 64);
    let params = || set.layer(0, KeyTransform::BOTH).unwrap();
    let gqa = DecodeShape {
        batch: 1,
        q_heads: 5,
        kv_heads: 2,
        head_dim: 64,
    };
    assert!(
        ReferenceKvCache::new(params(), gqa, CacheLayout::default())
            .err()
            .unwrap()
            .to_string()
            .contains("multiple of the KV heads")
    );
    let dim = DecodeShape {
        batch: 1,
        q_heads: 4,
        kv_heads: 2,
        head_dim: 96,
    };
    assert!(
        ReferenceKvCache::new(params(), dim, CacheLayout::default())
            .err()
            .unwrap()
            .to_string()
            .contains("power of two")
    );
    let shape = DecodeShape {
        batch: 2,
        q_heads: 4,
        kv_heads: 2,
        head_dim: 64,
    };
    let mut cache = ReferenceKvCache::new(params(), shape, CacheLayout::default()).unwrap();
    let err = cache
        .append(0, &[0.0; 64], &[0.0; 128])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("appended keys") && err.contains("128"),
        "{err}"
    );
    assert!(cache.append(5, &[0.0; 128], &[0.0; 128]).is_err());
    cache.append(0, &[0.5; 128], &[0.5; 128]).unwrap();
    // An empty sequence attends to nothing: zeros (the GPU kernels' contract too).
    let out = cache.attend(&[0.25; 2 * 4 * 64]).unwrap();
    assert!(out[4 * 64..].iter().all(|&x| x == 0.0));
    assert!(out[..4 * 64].iter().any(|&x| x != 0.0));
    assert!(
        cache
            .attend(&[0.0; 3])
            .unwrap_err()
            .to_string()
            .contains("queries")
    );
    assert!(set.layer(3, KeyTransform::BOTH).is_err());
}
