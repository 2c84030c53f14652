//! Helpers shared by the cross-crate tests.

#[path = "readback.rs"]
pub mod readback;

use std::path::PathBuf;
pub use vecinfer_quant::synthetic::{outlier_keys, random_vec, rng};
use vecinfer_quant::{CodebookSet, Granularity};

/// A random codebook set; codecs as strings for brevity.
pub fn random_codebook_set(
    seed: u64,
    key_codec: &str,
    value_codec: &str,
    granularity: Granularity,
    layers: usize,
    kv_heads: usize,
    head_dim: usize,
) -> CodebookSet {
    vecinfer_quant::synthetic::random_codebook_set(
        seed,
        key_codec.parse().unwrap(),
        value_codec.parse().unwrap(),
        granularity,
        layers,
        kv_heads,
        head_dim,
    )
}

/// A set whose smooth_hadamard keys are rotated by a learned rotation per (layer, KV head):
/// here random orthogonal matrices (the Procrustes fit of random cross products).
pub fn with_random_rotations(mut set: CodebookSet, seed: u64) -> CodebookSet {
    use rand::{RngExt, SeedableRng};
    let (d, heads) = (set.meta.head_dim, set.meta.kv_heads);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let rotation = (0..set.meta.layers)
        .map(|_| {
            (0..heads)
                .flat_map(|_| {
                    let cross: Vec<f64> = (0..d * d).map(|_| rng.random_range(-1.0..1.0)).collect();
                    vecinfer_quant::rotation::procrustes(&cross, d).unwrap()
                })
                .collect()
        })
        .collect();
    set.rotation = Some(rotation);
    set.meta.rotation_alternations = 1;
    set
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

/// The GPU for a GPU test. GPU tests are `#[ignore]`d (so a machine without a GPU does not
/// count them as passed) and run with `cargo test --release -- --ignored`; there, with
/// VECINFER_REQUIRE_GPU=1 a missing GPU fails the test, without it the test returns early
/// with a notice (`None`).
pub fn gpu_or_skip() -> Option<vecinfer_runtime::Gpu> {
    match vecinfer_runtime::Gpu::new(0) {
        Ok(g) => Some(g),
        Err(e) => {
            assert!(
                std::env::var("VECINFER_REQUIRE_GPU").map_or(true, |v| v != "1"),
                "a GPU is required: {e}"
            );
            eprintln!("SKIPPED (no GPU): {e}");
            None
        }
    }
}
