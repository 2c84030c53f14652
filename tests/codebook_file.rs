//! The codebook file: round trip, and every way a file can be bad.

use safetensors::SafeTensors;
use safetensors::tensor::TensorView;
use std::collections::HashMap;
use vecinfer_quant::{CodebookSet, Granularity, KeyTransform, QuantError, SmoothRule, WeightRule};
use vecinfer_tests::{random_codebook_set, with_random_rotations};

fn saved(set: &CodebookSet) -> (tempfile::TempDir, std::path::PathBuf, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cb.safetensors");
    set.save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    (dir, path, bytes)
}

/// Rewrites a file with its metadata edited by `edit`, and optionally one tensor dropped.
fn rewritten(
    bytes: &[u8],
    edit: impl Fn(&mut HashMap<String, String>),
    drop: Option<&str>,
) -> Vec<u8> {
    let (_, header) = SafeTensors::read_metadata(bytes).unwrap();
    let mut metadata = header.metadata().clone().unwrap();
    edit(&mut metadata);
    let tensors = SafeTensors::deserialize(bytes).unwrap();
    let views: Vec<(String, TensorView<'_>)> = tensors
        .tensors()
        .into_iter()
        .filter(|(n, _)| Some(n.as_str()) != drop)
        .collect();
    safetensors::serialize(views, Some(metadata)).unwrap()
}

fn load_error(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.safetensors");
    std::fs::write(&path, bytes).unwrap();
    match CodebookSet::load(&path) {
        Err(e @ QuantError::CodebookFile { .. }) => e.to_string(),
        other => panic!("expected a codebook-file error, got {other:?}"),
    }
}

#[test]
fn round_trip_keeps_everything() {
    for granularity in [Granularity::Layer, Granularity::Head] {
        let set = random_codebook_set(4, "d8b12", "d8b8", granularity, 3, 2, 64);
        let (_dir, path, _) = saved(&set);
        let back = CodebookSet::load(&path).unwrap();
        assert_eq!(back.meta, set.meta);
        assert_eq!(back.smooth, set.smooth);
        assert_eq!(back.transforms(), KeyTransform::ALL.to_vec());
        for t in KeyTransform::ALL {
            for layer in 0..3 {
                let (a, b) = (set.layer(layer, t).unwrap(), back.layer(layer, t).unwrap());
                for (x, y) in a.keys.all().iter().zip(b.keys.all()) {
                    assert_eq!(x.centroids(), y.centroids());
                }
                for (x, y) in a.values.all().iter().zip(b.values.all()) {
                    assert_eq!(x.centroids(), y.centroids());
                }
            }
        }
    }
}

#[test]
fn truncated_and_corrupt_files_are_reported() {
    let set = random_codebook_set(5, "d4b8", "d4b8", Granularity::Layer, 2, 3, 64);
    let (_dir, _, bytes) = saved(&set);
    assert!(load_error(&bytes[..bytes.len() / 2]).contains("truncated or corrupt"));
    assert!(load_error(&bytes[..5]).contains("truncated or corrupt"));
    let mut garbage = bytes.clone();
    garbage[8..40].fill(b'#');
    assert!(load_error(&garbage).contains("truncated or corrupt"));
    assert!(load_error(b"").contains("truncated or corrupt"));
}

#[test]
fn wrong_version_format_and_metadata_are_reported() {
    let set = random_codebook_set(6, "d4b8", "d4b8", Granularity::Head, 2, 3, 64);
    let (_dir, _, bytes) = saved(&set);
    let err = load_error(&rewritten(
        &bytes,
        |m| {
            m.insert("format_version".into(), "3".into());
        },
        None,
    ));
    assert!(
        err.contains("format version 3 is not supported") && err.contains("versions 1 and 2"),
        "{err}"
    );
    let err = load_error(&rewritten(
        &bytes,
        |m| {
            m.insert("format".into(), "something-else".into());
        },
        None,
    ));
    assert!(err.contains("expected \"vecinfer-codebooks\""), "{err}");
    let err = load_error(&rewritten(
        &bytes,
        |m| {
            m.remove("k_codec");
        },
        None,
    ));
    assert!(err.contains("k_codec") && err.contains("missing"), "{err}");
    let err = load_error(&rewritten(
        &bytes,
        |m| {
            m.insert("v_codec".into(), "d3b8".into());
        },
        None,
    ));
    assert!(err.contains("v_codec") && err.contains("d{d}b{b}"), "{err}");
    let err = load_error(&rewritten(
        &bytes,
        |m| {
            m.insert("head_dim".into(), "96".into());
        },
        None,
    ));
    assert!(err.contains("power of two"), "{err}");
}

#[test]
fn wrong_shapes_and_missing_tensors_are_reported() {
    let set = random_codebook_set(8, "d4b8", "d4b8", Granularity::Head, 2, 3, 64);
    let (_dir, _, bytes) = saved(&set);
    // Metadata says 4 KV heads, tensors hold 3.
    let err = load_error(&rewritten(
        &bytes,
        |m| {
            m.insert("kv_heads".into(), "4".into());
        },
        None,
    ));
    assert!(
        err.contains("has shape") && err.contains("expected"),
        "{err}"
    );
    // Metadata says d4b12, tensors hold 256 centroids.
    let err = load_error(&rewritten(
        &bytes,
        |m| {
            m.insert("k_codec".into(), "d4b12".into());
        },
        None,
    ));
    assert!(err.contains("keys.") && err.contains("has shape"), "{err}");
    let err = load_error(&rewritten(&bytes, |_| {}, Some("values")));
    assert!(err.contains("\"values\" is missing"), "{err}");
    let err = load_error(&rewritten(&bytes, |_| {}, Some("keys.smooth_hadamard")));
    assert!(err.contains("keys.smooth_hadamard"), "{err}");
}

#[test]
fn missing_file_is_an_io_error_naming_the_path() {
    let err = CodebookSet::load(std::path::Path::new("/nonexistent/cb.safetensors")).unwrap_err();
    assert!(matches!(err, QuantError::Io { .. }));
    assert!(err.to_string().contains("/nonexistent/cb.safetensors"));
}

#[test]
fn smooth_rule_round_trips_and_old_files_read_as_max() {
    let mut set = random_codebook_set(6, "d4b8", "d4b8", Granularity::Layer, 2, 3, 64);
    set.meta.smooth_rule = "mix:0.5:1".parse().unwrap();
    let (_dir, path, bytes) = saved(&set);
    assert_eq!(
        CodebookSet::load(&path).unwrap().meta.smooth_rule,
        set.meta.smooth_rule
    );
    // A file written before the field existed has no `smooth_rule`: the paper's rule.
    let old = rewritten(
        &bytes,
        |m| {
            m.remove("smooth_rule");
        },
        None,
    );
    let back = CodebookSet::from_bytes(&old).unwrap();
    assert_eq!(back.meta.smooth_rule, SmoothRule::MAX);
    let bad = rewritten(
        &bytes,
        |m| {
            m.insert("smooth_rule".into(), "median".into());
        },
        None,
    );
    assert!(load_error(&bad).contains("smooth_rule"));
}

#[test]
fn weight_rule_round_trips_and_old_files_read_as_none() {
    let mut set = random_codebook_set(7, "d4b8", "d4b8", Granularity::Layer, 2, 3, 64);
    set.meta.weight_rule = "attention:0.5:32".parse().unwrap();
    let (_dir, path, bytes) = saved(&set);
    assert_eq!(
        CodebookSet::load(&path).unwrap().meta.weight_rule,
        set.meta.weight_rule
    );
    // A file written before the field existed has no `weight_rule`: unweighted k-means.
    let old = rewritten(
        &bytes,
        |m| {
            m.remove("weight_rule");
        },
        None,
    );
    assert_eq!(
        CodebookSet::from_bytes(&old).unwrap().meta.weight_rule,
        WeightRule::NONE
    );
    let bad = rewritten(
        &bytes,
        |m| {
            m.insert("weight_rule".into(), "attention:0".into());
        },
        None,
    );
    assert!(load_error(&bad).contains("weight_rule"));
}

#[test]
fn the_committed_pre_rule_file_still_loads() {
    // Written by the calibration of issue 2, before `smooth_rule` existed.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../bench/results/accuracy/cb-d4b8-d4b8-layer.safetensors");
    let set = CodebookSet::load(&path).unwrap();
    assert_eq!(set.meta.smooth_rule, SmoothRule::MAX);
    assert_eq!(set.meta.weight_rule, WeightRule::NONE);
    assert_eq!(set.transforms(), KeyTransform::ALL.to_vec());
}

#[test]
fn learned_rotations_round_trip_as_version_2_and_apply_to_vecinfer_only() {
    let set = with_random_rotations(
        random_codebook_set(5, "d4b8", "d4b8", Granularity::Layer, 2, 3, 16),
        1,
    );
    let (_dir, path, bytes) = saved(&set);
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    assert_eq!(header.metadata().as_ref().unwrap()["format_version"], "2");
    let back = CodebookSet::load(&path).unwrap();
    assert_eq!(back.rotation, set.rotation);
    assert_eq!(back.meta, set.meta);
    assert_eq!(back.meta.key_rotation(), "learned:1");
    for t in KeyTransform::ALL {
        let p = back.layer(1, t).unwrap();
        assert_eq!(p.rotation.is_some(), t == KeyTransform::BOTH, "{t}");
    }
    // Without a rotation the file stays version 1, as every older reader expects.
    let plain = random_codebook_set(5, "d4b8", "d4b8", Granularity::Layer, 2, 3, 16);
    let (_dir, _, bytes) = saved(&plain);
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    assert_eq!(header.metadata().as_ref().unwrap()["format_version"], "1");
}

#[test]
fn bad_rotations_are_reported() {
    let set = with_random_rotations(
        random_codebook_set(6, "d4b8", "d4b8", Granularity::Layer, 2, 3, 16),
        2,
    );
    let (_dir, _, bytes) = saved(&set);
    // A version-2 file without its rotation tensor.
    let err = load_error(&rewritten(&bytes, |_| {}, Some("rotation.smooth_hadamard")));
    assert!(
        err.contains("rotation.smooth_hadamard") && err.contains("missing"),
        "{err}"
    );
    // Metadata that contradicts the version, or names no valid rotation.
    for (key_rotation, want) in [("hadamard", "does not go with"), ("learned:0", "valid are")] {
        let err = load_error(&rewritten(
            &bytes,
            |m| {
                m.insert("key_rotation".into(), key_rotation.into());
            },
            None,
        ));
        assert!(err.contains(want), "{key_rotation}: {err}");
    }
    // A set whose metadata and matrices disagree is not written.
    let mut unnamed = with_random_rotations(
        random_codebook_set(6, "d4b8", "d4b8", Granularity::Layer, 2, 3, 16),
        4,
    );
    unnamed.meta.rotation_alternations = 0;
    let err = unnamed.to_bytes().unwrap_err();
    assert!(err.contains("holds rotation matrices"), "{err}");
    // A rotation that is not orthogonal (scaled by 2).
    let mut scaled = set.rotation.clone().unwrap();
    scaled[1].iter_mut().for_each(|v| *v *= 2.0);
    let mut bad = CodebookSet {
        rotation: Some(scaled),
        ..random_codebook_set(6, "d4b8", "d4b8", Granularity::Layer, 2, 3, 16)
    };
    bad.meta.rotation_alternations = 1;
    let (_dir, _, bytes) = saved(&bad);
    let err = load_error(&bytes);
    assert!(
        err.contains("not orthogonal") && err.contains("layer 1"),
        "{err}"
    );
    // A NaN entry: RᵀR is then NaN in one row and column only, which a max would skip.
    let mut poisoned = with_random_rotations(
        random_codebook_set(6, "d4b8", "d4b8", Granularity::Layer, 2, 3, 16),
        5,
    );
    poisoned.rotation.as_mut().unwrap()[0][17] = f32::NAN;
    let (_dir, _, bytes) = saved(&poisoned);
    let err = load_error(&bytes);
    assert!(
        err.contains("not orthogonal") && err.contains("layer 0"),
        "{err}"
    );
    // Rotations of the wrong size are not written.
    let mut short = with_random_rotations(
        random_codebook_set(6, "d4b8", "d4b8", Granularity::Layer, 2, 3, 16),
        6,
    );
    short.rotation.as_mut().unwrap()[1].pop();
    let err = short.to_bytes().unwrap_err();
    assert!(err.contains("kv_heads × head_dim²"), "{err}");
    // A rotation with no smooth_hadamard codebooks to belong to cannot be written.
    let mut orphan = with_random_rotations(
        random_codebook_set(6, "d4b8", "d4b8", Granularity::Layer, 2, 3, 16),
        3,
    );
    orphan.keys.remove(KeyTransform::BOTH.name());
    let err = orphan.to_bytes().unwrap_err();
    assert!(err.contains("smooth_hadamard"), "{err}");
}
