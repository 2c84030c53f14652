//! Training a codec pair on some layers gives exactly the codebooks of a whole-model training cut
//! to those layers (k-means is seeded by the model layer), for every granularity, rotation,
//! smooth and weight rule: what `calibrate --layer-codecs` relies on. No model needed.

use rand::{RngExt, SeedableRng};
use std::collections::BTreeMap;
use vecinfer::calibrate::{CalibrationOptions, ReceivedStats, RecordedKv, train_codebooks};
use vecinfer_quant::{CodebookSet, Granularity, KeyTransform, SmoothStats, WeightRule};

fn recorded(layers: usize, kv: usize, d: usize, tokens: usize) -> RecordedKv {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let mut r = |s: f32| rng.random_range(-1.0..1.0f32) * s;
    let keys: Vec<Vec<Vec<f32>>> = (0..layers)
        .map(|l| {
            (0..kv)
                .map(|_| {
                    (0..tokens * d)
                        .map(|i| r(if i % d == 3 { 10.0 } else { 1.0 + l as f32 }))
                        .collect()
                })
                .collect()
        })
        .collect();
    let values: Vec<Vec<Vec<f32>>> = (0..layers)
        .map(|_| {
            (0..kv)
                .map(|_| (0..tokens * d).map(|_| r(1.0)).collect())
                .collect()
        })
        .collect();
    let mut stats = vec![vec![SmoothStats::new(d); kv]; layers];
    for l in 0..layers {
        for h in 0..kv {
            stats[l][h].add_keys(&keys[l][h]);
            let q: Vec<f32> = (0..tokens * d).map(|_| r(2.0)).collect();
            stats[l][h].add_queries(&q);
        }
    }
    let attention: Vec<Vec<ReceivedStats>> = (0..layers)
        .map(|_| {
            (0..kv)
                .map(|_| ReceivedStats {
                    mass: (0..tokens).map(|_| r(1.0).abs()).collect(),
                    squared: (0..tokens).map(|_| r(1.0).abs()).collect(),
                    key_fisher: (0..tokens).map(|_| r(1.0).abs()).collect(),
                })
                .collect()
        })
        .collect();
    RecordedKv {
        head_dim: d,
        kv_heads: kv,
        tokens,
        keys,
        values,
        stats,
        positions: (0..tokens as u32).map(|i| i % 256).collect(),
        attention: BTreeMap::from([(0usize, attention)]),
    }
}

fn same(a: &CodebookSet, b: &CodebookSet) -> bool {
    let books = |s: &CodebookSet| -> Vec<Vec<f32>> {
        let mut out = Vec::new();
        for layers in s.keys.values() {
            for l in layers {
                for cb in l.all() {
                    out.push(cb.centroids().to_vec());
                }
            }
        }
        for l in &s.values {
            for cb in l.all() {
                out.push(cb.centroids().to_vec());
            }
        }
        out
    };
    a.meta.layers == b.meta.layers
        && books(a) == books(b)
        && a.smooth == b.smooth
        && a.rotation == b.rotation
}

#[test]
fn subset_training_equals_cutting_whole() {
    let rec = recorded(4, 2, 16, 600);
    let bar = indicatif::ProgressBar::hidden();
    for granularity in [Granularity::Layer, Granularity::Head] {
        for rotations in [vec![0], vec![2]] {
            let opts = CalibrationOptions {
                granularity,
                weight_rules: vec![WeightRule::NONE, WeightRule::ATTENTION],
                smooth_rules: vec!["max".parse().unwrap(), "balanced".parse().unwrap()],
                samples_per_centroid: 2,
                min_samples: 700,
                kmeans_iters: 4,
                rotations: rotations.clone(),
                transforms: KeyTransform::ALL.to_vec(),
                ..CalibrationOptions::new("d4b8".parse().unwrap(), "d8b8".parse().unwrap())
            };
            let whole = train_codebooks(&rec, &opts, "m", "p".into(), &bar).unwrap();
            let sub = train_codebooks(
                &rec,
                &CalibrationOptions {
                    layers: Some(vec![1, 3]),
                    ..opts.clone()
                },
                "m",
                "p".into(),
                &bar,
            )
            .unwrap();
            assert_eq!(whole.len(), sub.len());
            for (w, s) in whole.into_iter().zip(sub) {
                let cut = w.into_layers(&[1, 3]).unwrap();
                println!(
                    "{granularity:?} rot {rotations:?} {} {}: equal = {}",
                    s.meta.smooth_rule.name(),
                    s.meta.weight_rule.name(),
                    same(&cut, &s)
                );
                assert!(same(&cut, &s));
            }
        }
    }
}
