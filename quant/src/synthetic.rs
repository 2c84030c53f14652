//! Random codebooks, keys and values for checking arithmetic (kernels against the reference),
//! where the quality of the codebooks does not matter.

use crate::codebook::{Codebook, Granularity, LayerCodebooks};
use crate::codebook_file::{CodebookMeta, CodebookSet};
use crate::codec::VqCodec;
use crate::transform::KeyTransform;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// Uniform values in `[-scale, scale)`.
pub fn random_vec(rng: &mut ChaCha8Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-scale..scale)).collect()
}

/// `rows` head vectors with two strong outlier channels, like real post-RoPE keys.
pub fn outlier_keys(rng: &mut ChaCha8Rng, rows: usize, head_dim: usize) -> Vec<f32> {
    (0..rows * head_dim)
        .map(|i| {
            rng.random_range(-1.0..1.0f32)
                * if i % head_dim == 5 || i % head_dim == 17 {
                    12.0
                } else {
                    1.0
                }
        })
        .collect()
}

/// A codebook set with random centroids (every transform) and random smooth scales.
pub fn random_codebook_set(
    seed: u64,
    key_codec: VqCodec,
    value_codec: VqCodec,
    granularity: Granularity,
    layers: usize,
    kv_heads: usize,
    head_dim: usize,
) -> CodebookSet {
    let mut rng = rng(seed);
    let groups = granularity.codebooks_per_layer(kv_heads);
    let mut layer_books = |codec: VqCodec| -> Vec<LayerCodebooks> {
        (0..layers)
            .map(|_| {
                let books = (0..groups)
                    .map(|_| {
                        Codebook::new(
                            codec,
                            &random_vec(&mut rng, codec.codebook_size() * codec.sub_dim(), 1.0),
                        )
                        .expect("sizes match")
                    })
                    .collect();
                LayerCodebooks::new(books).expect("at least one codebook")
            })
            .collect()
    };
    let mut keys = BTreeMap::new();
    for t in KeyTransform::ALL {
        keys.insert(t.name(), layer_books(key_codec));
    }
    let values = layer_books(value_codec);
    let smooth = (0..layers)
        .map(|_| {
            (0..kv_heads * head_dim)
                .map(|_| rng.random_range(0.5..4.0f32))
                .collect()
        })
        .collect();
    CodebookSet {
        meta: CodebookMeta {
            key_codec,
            value_codec,
            granularity,
            head_dim,
            layers,
            kv_heads,
            model_id: "synthetic".into(),
            calibration: format!("random, seed {seed}"),
            smooth_rule: crate::transform::SmoothRule::MAX,
            weight_rule: crate::weighting::WeightRule::NONE,
            rotation_alternations: 0,
        },
        smooth,
        keys,
        values,
        rotation: None,
    }
}
