//! Helpers shared by the cross-crate tests.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::path::PathBuf;
use vecinfer_quant::{
    Codebook, CodebookMeta, CodebookSet, Granularity, KeyTransform, LayerCodebooks, VqCodec,
};

pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// Uniform values in `[-scale, scale)`.
pub fn random_vec(rng: &mut ChaCha8Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-scale..scale)).collect()
}

/// Keys with a few strong outlier channels, like real post-RoPE keys.
pub fn outlier_keys(rng: &mut ChaCha8Rng, tokens: usize, head_dim: usize) -> Vec<f32> {
    (0..tokens * head_dim)
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

fn random_codebook(rng: &mut ChaCha8Rng, codec: VqCodec, scale: f32) -> Codebook {
    Codebook::new(
        codec,
        &random_vec(rng, codec.codebook_size() * codec.sub_dim(), scale),
    )
    .unwrap()
}

/// A codebook set with random centroids and smooth scales: fine for checking arithmetic,
/// where the quality of the codebooks does not matter.
pub fn random_codebook_set(
    seed: u64,
    key_codec: &str,
    value_codec: &str,
    granularity: Granularity,
    layers: usize,
    kv_heads: usize,
    head_dim: usize,
) -> CodebookSet {
    let mut rng = rng(seed);
    let key_codec: VqCodec = key_codec.parse().unwrap();
    let value_codec: VqCodec = value_codec.parse().unwrap();
    let groups = granularity.codebooks_per_layer(kv_heads);
    let mut layer_books = |codec: VqCodec, scale: f32| -> Vec<LayerCodebooks> {
        (0..layers)
            .map(|_| {
                LayerCodebooks::new(
                    (0..groups)
                        .map(|_| random_codebook(&mut rng, codec, scale))
                        .collect(),
                )
                .unwrap()
            })
            .collect()
    };
    let mut keys = BTreeMap::new();
    for t in KeyTransform::ALL {
        keys.insert(t.name(), layer_books(key_codec, 1.0));
    }
    let values = layer_books(value_codec, 1.0);
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
        },
        smooth,
        keys,
        values,
    }
}

/// The fetched model, or `None` (with a notice) when it is absent. With
/// `VECINFER_REQUIRE_MODEL=1` (set by CI) an absent model fails the test instead.
pub fn model_or_skip(test: &str) -> Option<PathBuf> {
    match vecinfer_model::fetch::resolve_model(None) {
        Ok(p) => Some(p),
        Err(e) => {
            if std::env::var("VECINFER_REQUIRE_MODEL").is_ok_and(|v| v == "1") {
                panic!("{test}: the model is required (VECINFER_REQUIRE_MODEL=1) but: {e}");
            }
            eprintln!("SKIPPED {test}: {e}");
            None
        }
    }
}

pub fn shared_data(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/wikitext2")
        .join(file)
}
