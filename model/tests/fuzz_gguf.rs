//! Property tests ("fuzzing") of the GGUF reader and the Llama loader on top of it: a small
//! valid GGUF with bytes of its header changed, cut short, or metadata values replaced by
//! arbitrary ones never panics or aborts; it loads, or is refused with an error. What loads
//! runs a forward pass (or refuses the window) without panicking either.
//!
//! Bounded for CI: a few hundred cases each (about a second). Failing inputs proptest finds
//! are kept in `proptest-regressions/` and replayed first.

use candle_core::quantized::gguf_file::Value;
use proptest::prelude::*;
use std::io::Cursor;
use std::sync::OnceLock;
use vecinfer_model::synthetic::{TinyLlama, set};
use vecinfer_model::{ExactAttention, GgufTokenizer, Llama};

/// The valid file, and where its tensor data starts (the header is before it).
fn valid() -> &'static (Vec<u8>, usize) {
    static VALID: OnceLock<(Vec<u8>, usize)> = OnceLock::new();
    VALID.get_or_init(|| {
        let bytes = TinyLlama::default().gguf().unwrap();
        let content =
            vecinfer_model::gguf::read_header(&mut Cursor::new(bytes.clone()), "t").unwrap();
        let header = content.tensor_data_offset as usize;
        (bytes, header)
    })
}

/// Everything a user's file goes through: the header checks, the loader, the tokenizer and
/// a short forward pass. Only panics fail the property.
fn exercise(bytes: Vec<u8>) {
    if let Ok(content) = vecinfer_model::gguf::read_header(&mut Cursor::new(bytes.clone()), "t")
        && let Ok(tok) = GgufTokenizer::from_gguf(&content)
    {
        let _ = tok.encode("the cat sat");
    }
    if let Ok(model) = Llama::from_reader(&mut Cursor::new(bytes), "t") {
        let c = model.config();
        assert!(c.layers >= 1 && c.context >= 1 && c.head_dim.is_multiple_of(2));
        assert!(c.rope_base > 0.0 && c.rms_eps > 0.0);
        let _ = model.forward(&[1, 2, 3], &mut ExactAttention);
    }
}

fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<u8>().prop_map(Value::U8),
        any::<i8>().prop_map(Value::I8),
        any::<u16>().prop_map(Value::U16),
        any::<i16>().prop_map(Value::I16),
        any::<u32>().prop_map(Value::U32),
        prop_oneof![Just(0u32), Just(1), Just(2), Just(3), Just(8), Just(16)].prop_map(Value::U32),
        any::<i32>().prop_map(Value::I32),
        any::<u64>().prop_map(Value::U64),
        any::<i64>().prop_map(Value::I64),
        any::<f32>().prop_map(Value::F32),
        any::<f64>().prop_map(Value::F64),
        any::<bool>().prop_map(Value::Bool),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 16, 4, |inner| {
        prop::collection::vec(inner, 0..4).prop_map(Value::Array)
    })
}

const KEYS: [&str; 16] = [
    "general.architecture",
    "general.alignment",
    "llama.block_count",
    "llama.context_length",
    "llama.embedding_length",
    "llama.feed_forward_length",
    "llama.attention.head_count",
    "llama.attention.head_count_kv",
    "llama.rope.freq_base",
    "llama.rope.dimension_count",
    "llama.attention.layer_norm_rms_epsilon",
    "llama.attention.key_length",
    "tokenizer.ggml.model",
    "tokenizer.ggml.tokens",
    "tokenizer.ggml.merges",
    "tokenizer.ggml.token_type",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn header_bytes_changed_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let (good, header) = valid();
        let mut bytes = good.clone();
        for (at, byte) in edits {
            bytes[at.index(*header)] = byte;
        }
        exercise(bytes);
    }

    #[test]
    fn files_cut_short_never_panic(at in any::<prop::sample::Index>()) {
        let (good, _) = valid();
        exercise(good[..at.index(good.len())].to_vec());
    }

    #[test]
    fn arbitrary_metadata_values_never_panic(
        edits in prop::collection::vec((0..KEYS.len(), any_value()), 1..4),
    ) {
        // candle's writer refuses some values (arrays of mixed types): nothing to read then.
        if let Ok(bytes) = TinyLlama::default().gguf_with(|md| {
            for (key, value) in edits {
                set(md, KEYS[key], value);
            }
        }) {
            exercise(bytes);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        exercise(bytes);
    }
}
