//! Property tests ("fuzzing") of the CPU side's parsers: the codec string and the codebook
//! file. Arbitrary or mutated input never panics; it parses to something valid, or is an
//! error. Bounded for CI (a few seconds); failing inputs proptest finds are kept in
//! `proptest-regressions/` and replayed first.

use proptest::prelude::*;
use std::sync::OnceLock;
use vecinfer_quant::codec::{VALID_BITS, VALID_SUB_DIMS};
use vecinfer_quant::{CodebookSet, Granularity, VqCodec};

/// A small valid codebook file: 2 layers, 2 KV heads of dim 16, per-head codebooks.
fn valid_file() -> &'static [u8] {
    static FILE: OnceLock<Vec<u8>> = OnceLock::new();
    FILE.get_or_init(|| {
        let codec: VqCodec = "d4b8".parse().unwrap();
        vecinfer_quant::synthetic::random_codebook_set(1, codec, codec, Granularity::Head, 2, 2, 16)
            .to_bytes()
            .unwrap()
    })
}

/// The safetensors header (JSON) of `bytes`, and where the data starts.
fn header(bytes: &[u8]) -> (serde_json::Value, usize) {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    (serde_json::from_slice(&bytes[8..8 + n]).unwrap(), 8 + n)
}

/// `bytes` with its header replaced by `json` (the data after it unchanged).
fn with_header(bytes: &[u8], json: &serde_json::Value) -> Vec<u8> {
    let (_, data) = header(bytes);
    let text = serde_json::to_vec(json).unwrap();
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&text);
    out.extend_from_slice(&bytes[data..]);
    out
}

/// A parsed file must be self-consistent.
fn check(bytes: &[u8]) {
    if let Ok(set) = CodebookSet::from_bytes(bytes) {
        let m = &set.meta;
        assert!(m.layers > 0 && m.kv_heads > 0);
        assert_eq!(set.smooth.len(), m.layers);
        assert_eq!(set.values.len(), m.layers);
        for t in set.transforms() {
            let p = set.layer(m.layers - 1, t).unwrap();
            assert_eq!(p.smooth.len(), m.kv_heads * m.head_dim);
        }
    }
}

/// Metadata values that probe the parser: numbers at the edges, codecs, junk.
fn meta_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        (0u64..300).prop_map(|n| n.to_string()),
        Just("18446744073709551616".to_string()),
        Just("-1".to_string()),
        (0usize..20, 0u32..20).prop_map(|(d, b)| format!("d{d}b{b}")),
        prop_oneof![
            Just("layer"),
            Just("head"),
            Just("plain,smooth_hadamard"),
            Just(",,")
        ]
        .prop_map(str::to_string),
        ".{0,10}",
    ]
}

const META_KEYS: [&str; 10] = [
    "format",
    "format_version",
    "k_codec",
    "v_codec",
    "granularity",
    "head_dim",
    "layers",
    "kv_heads",
    "model_id",
    "key_transforms",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn any_codec_string_parses_to_a_valid_codec_or_an_error(s in ".{0,12}") {
        if let Ok(c) = s.parse::<VqCodec>() {
            prop_assert!(VALID_SUB_DIMS.contains(&c.sub_dim()) && VALID_BITS.contains(&c.bits()));
            prop_assert_eq!(c.to_string().parse::<VqCodec>().unwrap(), c);
        }
    }

    #[test]
    fn codec_shaped_strings_parse_exactly_when_in_range(
        d in any::<u64>(), b in any::<u64>(), pad in "[ \t]{0,2}", small in any::<bool>(),
    ) {
        let (d, b) = if small { (d % 20, b % 20) } else { (d, b) };
        let s = format!("{pad}d{d}b{b}{pad}");
        let valid = VALID_SUB_DIMS.contains(&(d as usize)) && (8..=12).contains(&b);
        let parsed = s.parse::<VqCodec>();
        prop_assert_eq!(parsed.is_ok(), valid, "{:?}", s);
        if let Ok(c) = parsed {
            prop_assert_eq!(c.to_string(), format!("d{d}b{b}"));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn codebook_files_with_bytes_changed_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        in_header in any::<bool>(),
    ) {
        let mut bytes = valid_file().to_vec();
        let (_, data) = header(&bytes);
        for (at, byte) in edits {
            let at = if in_header { at.index(data) } else { at.index(bytes.len()) };
            bytes[at] = byte;
        }
        check(&bytes);
    }

    #[test]
    fn codebook_files_cut_short_never_panic(at in any::<prop::sample::Index>()) {
        let bytes = valid_file();
        check(&bytes[..at.index(bytes.len())]);
    }

    #[test]
    fn codebook_metadata_values_never_panic(
        edits in prop::collection::vec((0..META_KEYS.len(), meta_value()), 1..4),
    ) {
        let bytes = valid_file();
        let (mut json, _) = header(bytes);
        for (key, value) in edits {
            json["__metadata__"][META_KEYS[key]] = value.into();
        }
        check(&with_header(bytes, &json));
    }

    #[test]
    fn codebook_tensor_shapes_and_dtypes_never_panic(
        tensor in 0usize..3,
        shape in prop::collection::vec(0usize..70_000, 0..5),
        dtype in prop_oneof![Just("F16"), Just("F32"), Just("BF16"), Just("U8"), Just("I64")],
    ) {
        let bytes = valid_file();
        let (mut json, _) = header(bytes);
        let name = ["smooth", "values", "keys.plain"][tensor];
        if json.get(name).is_some() {
            json[name]["shape"] = serde_json::json!(shape);
            json[name]["dtype"] = dtype.into();
        }
        check(&with_header(bytes, &json));
    }
}
