//! A Llama GGUF with bad metadata or tensor data is refused with an error that names what is
//! wrong, before anything is allocated for it; a tiny valid one loads and runs.

use candle_core::quantized::gguf_file::Value;
use std::io::Cursor;
use vecinfer_model::synthetic::{TinyLlama, remove, set};
use vecinfer_model::{ExactAttention, GgufTokenizer, Llama, ModelError};

fn load(bytes: Vec<u8>) -> Result<Llama, ModelError> {
    Llama::from_reader(&mut Cursor::new(bytes), "tiny.gguf")
}

fn with(key: &str, value: Value) -> Vec<u8> {
    TinyLlama::default()
        .gguf_with(|md| set(md, key, value))
        .unwrap()
}

/// The metadata error for `bytes`, checked to name `key`.
fn metadata_error(bytes: Vec<u8>, key: &str) -> String {
    match load(bytes) {
        Err(e @ ModelError::InvalidMetadata { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains(key) && msg.contains("tiny.gguf"), "{msg}");
            msg
        }
        Err(e) => panic!("{key}: expected InvalidMetadata, got {e}"),
        Ok(_) => panic!("{key}: accepted"),
    }
}

#[test]
fn a_tiny_valid_model_loads_runs_and_tokenizes() {
    let bytes = TinyLlama::default().gguf().unwrap();
    let model = load(bytes.clone()).unwrap();
    let c = model.config();
    assert_eq!((c.layers, c.head_dim, c.context), (2, 8, 64));
    let logits = model.forward(&[1, 2, 3], &mut ExactAttention).unwrap();
    assert_eq!(logits.dims(), &[3, c.vocab]);
    let content = vecinfer_model::gguf::read_header(&mut Cursor::new(bytes), "tiny.gguf").unwrap();
    let tok = GgufTokenizer::from_gguf(&content).unwrap();
    let ids = tok.encode("the cat").unwrap();
    assert_eq!(tok.decode(&ids).unwrap(), "the cat");
}

#[test]
fn zero_layers_is_an_error_not_a_panic() {
    let msg = metadata_error(
        with("llama.block_count", Value::U32(0)),
        "llama.block_count",
    );
    assert!(msg.contains("from 1 to"), "{msg}");
}

#[test]
fn an_absurd_context_is_refused_and_a_large_one_allocates_nothing_up_front() {
    let msg = metadata_error(
        with("llama.context_length", Value::U32(u32::MAX)),
        "llama.context_length",
    );
    assert!(
        msg.contains("4294967295") && msg.contains("16777216"),
        "{msg}"
    );
    // The largest accepted context: RoPE angles are made per window, so this is instant.
    let start = std::time::Instant::now();
    let model = load(with("llama.context_length", Value::U32(1 << 24))).unwrap();
    assert_eq!(model.config().context, 1 << 24);
    model.forward(&[1, 2], &mut ExactAttention).unwrap();
    assert!(start.elapsed().as_secs_f64() < 5.0);
}

#[test]
fn bad_norm_epsilon_and_rope_base_are_refused() {
    let eps = "llama.attention.layer_norm_rms_epsilon";
    let base = "llama.rope.freq_base";
    for bad in [f32::NAN, 0.0, -1e-5, f32::INFINITY] {
        metadata_error(with(eps, Value::F32(bad)), eps);
        metadata_error(with(base, Value::F32(bad)), base);
    }
    // Present with the wrong type: an error, not the default.
    metadata_error(with(eps, Value::String("1e-5".into())), eps);
    metadata_error(with(base, Value::U32(10000)), base);
    metadata_error(with(base, Value::F64(1e300)), base);
    // Absent: the documented defaults.
    let model = load(
        TinyLlama::default()
            .gguf_with(|md| {
                remove(md, eps);
                remove(md, base);
            })
            .unwrap(),
    )
    .unwrap();
    assert_eq!(model.config().rope_base, 10000.0);
}

#[test]
fn partial_rotary_and_other_head_sizes_are_refused() {
    for key in [
        "llama.rope.dimension_count",
        "llama.attention.key_length",
        "llama.attention.value_length",
    ] {
        let msg = metadata_error(with(key, Value::U32(4)), key);
        assert!(msg.contains("head dim 8"), "{msg}");
    }
    metadata_error(
        with("llama.rope.scaling.type", Value::String("yarn".into())),
        "llama.rope.scaling.type",
    );
}

#[test]
fn wrong_types_and_counts_name_the_key() {
    for (key, value) in [
        ("llama.block_count", Value::String("2".into())),
        ("llama.attention.head_count", Value::I32(-2)),
        ("llama.attention.head_count_kv", Value::U32(0)),
        ("llama.embedding_length", Value::F32(16.0)),
        ("general.architecture", Value::String("gpt2".into())),
        ("tokenizer.ggml.tokens", Value::Array(vec![])),
        ("llama.block_count", Value::U64(u64::MAX)),
    ] {
        metadata_error(with(key, value), key);
    }
    let err = load(
        TinyLlama::default()
            .gguf_with(|md| set(md, "llama.attention.head_count_kv", Value::U32(3)))
            .unwrap(),
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("do not fit together"), "{err}");
}

#[test]
fn a_tensor_of_the_wrong_shape_in_any_layer_is_named() {
    let bytes = TinyLlama::default()
        .gguf_edited(
            |_| {},
            |tensors| {
                let t = tensors
                    .iter_mut()
                    .find(|t| t.0 == "blk.1.attn_k.weight")
                    .unwrap();
                t.1 = vec![16, 8];
            },
        )
        .unwrap();
    let err = load(bytes).err().unwrap();
    assert!(
        matches!(err, ModelError::BadModel { .. }) && err.to_string().contains("blk.1.attn_k"),
        "{err}"
    );
    let bytes = TinyLlama::default()
        .gguf_edited(
            |_| {},
            |tensors| tensors.push(("rope_freqs.weight".into(), vec![4], vec![1.0; 4])),
        )
        .unwrap();
    let err = load(bytes).err().unwrap().to_string();
    assert!(err.contains("rope_freqs"), "{err}");
}

/// Where tensor `name`'s data offset is stored in the file's tensor-info table.
fn offset_field(bytes: &[u8], name: &str, dims: usize) -> usize {
    let at = bytes
        .windows(name.len())
        .position(|w| w == name.as_bytes())
        .unwrap();
    at + name.len() + 4 + 8 * dims + 4
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

#[test]
fn overlapping_or_out_of_file_tensor_data_is_refused() {
    let good = TinyLlama::default().gguf().unwrap();
    let gate = read_u64(&good, offset_field(&good, "blk.0.ffn_gate.weight", 2));
    let up = offset_field(&good, "blk.0.ffn_up.weight", 2);
    let mut overlapping = good.clone();
    overlapping[up..up + 8].copy_from_slice(&(gate + 4).to_le_bytes());
    let err = load(overlapping).err().unwrap().to_string();
    assert!(err.contains("overlap") && err.contains("ffn_up"), "{err}");

    let mut beyond = good.clone();
    beyond[up..up + 8].copy_from_slice(&(u64::MAX - 16).to_le_bytes());
    let err = load(beyond).err().unwrap().to_string();
    assert!(err.contains("past the end"), "{err}");

    let truncated = good[..good.len() - 100].to_vec();
    let err = load(truncated).err().unwrap().to_string();
    assert!(err.contains("past the end"), "{err}");
}

#[test]
fn a_zero_alignment_is_refused_before_candle_divides_by_it() {
    let msg = metadata_error(
        with("general.alignment", Value::U32(0)),
        "general.alignment",
    );
    assert!(msg.contains("power of two"), "{msg}");
    metadata_error(
        with("general.alignment", Value::U32(24)),
        "general.alignment",
    );
}
