//! Property tests ("fuzzing") of the command line's list arguments: `--shapes`, `--codecs`,
//! the numeric and knob lists of `bench`/`tune`, `--methods`, `--layers`, `--budget` and
//! `--strategy`. Arbitrary text never panics (it parses or is an error naming the option),
//! and well-formed lists parse to exactly what they say. Bounded for CI; failing inputs are
//! kept in `proptest-regressions/` and replayed first.

use proptest::prelude::*;
use vecinfer::bench::{parse_codec_pairs, parse_list, parse_shapes};
use vecinfer::dump::parse_layers;
use vecinfer_codegen::{KeyScoring, SplitPolicy};
use vecinfer_quant::{Method, VqCodec};
use vecinfer_tuner::{Budget, Strategy as SearchStrategy};

/// Text made of the characters these lists use, plus anything.
fn list_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9dbx/,+: .a-z\\-]{0,24}",
        ".{0,24}",
        Just(",".to_string()),
        Just("18446744073709551616x1".to_string()),
        Just("0x0".to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(s in list_text()) {
        if let Ok(shapes) = parse_shapes(&s) {
            prop_assert!(shapes.iter().all(|&(b, t)| b > 0 && t > 0));
        }
        let _ = parse_codec_pairs(&s);
        let _ = parse_list::<usize>(Some(&s), "tile");
        let _ = parse_list::<KeyScoring>(Some(&s), "scoring");
        let _ = parse_list::<SplitPolicy>(Some(&s), "split");
        let _ = parse_list::<bool>(Some(&s), "direct-codes");
        if let Ok(methods) = Method::parse_list(&s) {
            prop_assert!(!methods.is_empty());
        }
        if let Ok(layers) = parse_layers(Some(&s), 30) {
            prop_assert!(layers.iter().all(|&l| l < 30));
        }
        let _ = s.parse::<Budget>();
        let _ = s.parse::<SearchStrategy>();
        if let Err(e) = parse_list::<usize>(Some(&s), "warps") {
            prop_assert!(e.to_string().contains("--warps"), "{}", e);
        }
    }

    #[test]
    fn well_formed_shape_lists_parse_to_what_they_say(
        shapes in prop::collection::vec((1usize..1 << 20, 1usize..1 << 24), 1..6),
        upper in any::<bool>(),
    ) {
        let x = if upper { "X" } else { "x" };
        let text: Vec<String> = shapes.iter().map(|(b, t)| format!(" {b}{x}{t} ")).collect();
        prop_assert_eq!(parse_shapes(&text.join(",")).unwrap(), shapes);
    }

    #[test]
    fn well_formed_codec_pairs_parse_to_what_they_say(
        pairs in prop::collection::vec((0usize..3, 8u32..=12, 0usize..3, 8u32..=12), 1..5),
    ) {
        let dims = [2, 4, 8];
        let want: Vec<(VqCodec, VqCodec)> = pairs
            .iter()
            .map(|&(a, b, c, d)| {
                (VqCodec::new(dims[a], b).unwrap(), VqCodec::new(dims[c], d).unwrap())
            })
            .collect();
        let text: Vec<String> = want.iter().map(|(k, v)| format!("{k}/{v}")).collect();
        prop_assert_eq!(parse_codec_pairs(&text.join(",")).unwrap(), want);
    }

    #[test]
    fn well_formed_layer_lists_parse_to_what_they_say(
        layers in prop::sample::subsequence((0..30).collect::<Vec<usize>>(), 1..30),
    ) {
        let text: Vec<String> = layers.iter().map(usize::to_string).collect();
        prop_assert_eq!(parse_layers(Some(&text.join(",")), 30).unwrap(), layers);
    }
}
