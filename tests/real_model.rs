//! End to end on the real model (SmolLM2-135M): forward pass, tokenizer, calibration and
//! evaluation. Skipped with a notice when the model has not been fetched, unless
//! VECINFER_REQUIRE_MODEL=1 (CI sets it, after `vecinfer fetch-model`).

use indicatif::ProgressBar;
use vecinfer::calibrate::{CalibrationOptions, record_kv_with_attention, train_codebooks};
use vecinfer::evaluate::{evaluate_method, evaluate_method_with_anchors};
use vecinfer::text::{read_tokens, windows};
use vecinfer_model::{GgufTokenizer, Llama, ModelError, generate_greedy};
use vecinfer_quant::{
    AnchorBudget, AnchorPolicy, AnchorRule, CacheLayout, CodebookSet, KeyTransform, Method,
    SmoothRule, WeightRule, WindowPrecision,
};
use vecinfer_tests::{model_or_skip, shared_data};

#[test]
fn greedy_generation_is_coherent_english() {
    let Some(path) = model_or_skip("greedy_generation_is_coherent_english") else {
        return;
    };
    let model = Llama::load(&path).unwrap();
    let tok = GgufTokenizer::load(&path).unwrap();
    let prompt = tok.encode("The capital of France is").unwrap();
    let out = tok
        .decode(&generate_greedy(&model, &prompt, 8, tok.eos).unwrap())
        .unwrap();
    assert!(out.contains("Paris"), "generated: {out:?}");
    let prompt = tok
        .encode("<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n")
        .unwrap();
    assert_eq!(prompt[0], 1, "control tokens are single tokens");
    let out = tok
        .decode(&generate_greedy(&model, &prompt, 12, tok.eos).unwrap())
        .unwrap();
    assert!(out.contains('4'), "generated: {out:?}");
}

#[test]
fn tokenizer_round_trips_text() {
    let Some(path) = model_or_skip("tokenizer_round_trips_text") else {
        return;
    };
    let tok = GgufTokenizer::load(&path).unwrap();
    let text = " = Valkyria Chronicles III = \n\n Senjō no Valkyria 3 : 1,234 units in 2011.";
    let ids = tok.encode(text).unwrap();
    assert_eq!(tok.decode(&ids).unwrap(), text);
    // Digits are split one by one (the `smollm` pre-tokenizer).
    assert_eq!(tok.encode("2011").unwrap().len(), 4);
}

#[test]
fn fp16_perplexity_is_sane_and_quantized_methods_run() {
    let Some(path) = model_or_skip("fp16_perplexity_is_sane_and_quantized_methods_run") else {
        return;
    };
    let model = Llama::load(&path).unwrap();
    let tok = GgufTokenizer::load(&path).unwrap();
    let calib = read_tokens(&shared_data("calib.txt"), &tok).unwrap();
    let eval = read_tokens(&shared_data("eval.txt"), &tok).unwrap();
    let hidden = ProgressBar::hidden();
    let recorded = record_kv_with_attention(
        &model,
        &windows(&calib, 512, Some(2)).unwrap(),
        &[0],
        &hidden,
    )
    .unwrap();
    // Every query row's probabilities sum to 1: a KV head receives group × tokens in all.
    let received: f32 = recorded.attention[&0][5][1].mass.iter().sum();
    assert!((received - 3.0 * 1024.0).abs() < 1.0, "{received}");
    let opts = CalibrationOptions {
        transforms: vec![KeyTransform::NONE, KeyTransform::BOTH],
        smooth_rules: vec![SmoothRule::MAX, SmoothRule::BALANCED],
        weight_rules: vec![WeightRule::NONE, WeightRule::ATTENTION],
        ..CalibrationOptions::new("d4b8".parse().unwrap(), "d4b8".parse().unwrap())
    };
    let sets = train_codebooks(&recorded, &opts, "SmolLM2", "test".into(), &hidden).unwrap();
    assert_eq!(sets.len(), 4);
    // Weight-major order; the weighted sets share λ with the unweighted, not the codebooks.
    assert_eq!(sets[3].meta.weight_rule, WeightRule::ATTENTION);
    assert_eq!(sets[3].meta.smooth_rule, SmoothRule::BALANCED);
    assert_eq!(sets[3].smooth, sets[1].smooth);
    assert_ne!(
        sets[3].values[2].all()[0].centroids(),
        sets[1].values[2].all()[0].centroids()
    );
    // λ differs between the rules; codebooks that do not use λ are shared.
    assert_eq!(sets[1].meta.smooth_rule, SmoothRule::BALANCED);
    assert_ne!(sets[0].smooth, sets[1].smooth);
    let plain = |s: &CodebookSet| {
        s.layer(3, KeyTransform::NONE).unwrap().keys.all()[0]
            .centroids()
            .to_vec()
    };
    assert_eq!(plain(&sets[0]), plain(&sets[1]));
    let dir = tempfile::tempdir().unwrap();
    sets[1]
        .save(&dir.path().join("balanced.safetensors"))
        .unwrap();
    let balanced = CodebookSet::load(&dir.path().join("balanced.safetensors")).unwrap();
    assert_eq!(balanced.meta.smooth_rule, SmoothRule::BALANCED);
    sets[0].save(&dir.path().join("cb.safetensors")).unwrap();
    let set = CodebookSet::load(&dir.path().join("cb.safetensors")).unwrap();

    let wins = windows(&eval, 512, Some(1)).unwrap();
    let layout = CacheLayout {
        sinks: 0,
        residual: 64,
        ..CacheLayout::default()
    };
    let run =
        |m: Method| evaluate_method(&model, &wins, m, Some(&set), layout, true, &hidden).unwrap();
    let fp16 = run(Method::Fp16);
    assert!(
        (10.0..60.0).contains(&fp16.perplexity),
        "fp16 perplexity {}",
        fp16.perplexity
    );
    assert!(fp16.attention_relative_error.unwrap() < 1e-6);
    for m in [
        Method::Vq(KeyTransform::NONE),
        Method::Vq(KeyTransform::BOTH),
        Method::Kivi2,
    ] {
        let r = run(m);
        assert!(
            r.perplexity.is_finite() && r.perplexity > fp16.perplexity * 0.97,
            "{m}: {}",
            r.perplexity
        );
        assert!(
            r.perplexity < fp16.perplexity * 2.0,
            "{m}: {} vs fp16 {}",
            r.perplexity,
            fp16.perplexity
        );
        let error = r.attention_relative_error.unwrap();
        assert!((0.01..1.0).contains(&error), "{m}: {error}");
    }
    // Anchors (1% by attention): runs, counts them in the bits, and stays near no anchors.
    let anchors = AnchorPolicy {
        budget: AnchorBudget::parse("1%").unwrap(),
        rule: AnchorRule::Attention,
    };
    let vecinfer = Method::Vq(KeyTransform::BOTH);
    let with = evaluate_method_with_anchors(
        &model,
        &wins,
        vecinfer,
        Some(&balanced),
        layout,
        Some(anchors),
        false,
        &hidden,
    )
    .unwrap();
    let without = evaluate_method(
        &model,
        &wins,
        vecinfer,
        Some(&balanced),
        layout,
        false,
        &hidden,
    )
    .unwrap();
    assert_eq!(
        with.effective.fp16_tokens,
        without.effective.fp16_tokens + 5
    );
    assert!(with.effective.bits > without.effective.bits);
    let ratio = with.perplexity / without.perplexity;
    assert!((0.9..1.05).contains(&ratio), "anchors: {ratio}");
    // An int8 window: its 64 tokens counted at 8.25 bits, perplexity close to the fp16
    // window's (int8 rows come back within half a step of absmax / 127).
    let int8 = evaluate_method_with_anchors(
        &model,
        &wins,
        vecinfer,
        Some(&balanced),
        CacheLayout {
            precision: WindowPrecision::Int8,
            ..layout
        },
        None,
        false,
        &hidden,
    )
    .unwrap();
    assert_eq!(int8.effective.int8_tokens, 64);
    assert_eq!(int8.effective.fp16_tokens, 0);
    // 64 tokens of a 512-token window at 8.25 bits instead of 16.
    let saved = without.effective.bits - int8.effective.bits;
    assert!((saved - 64.0 * 7.75 / 512.0).abs() < 1e-9, "{saved}");
    assert_ne!(
        int8.perplexity, without.perplexity,
        "the window was not rounded"
    );
    let ratio = int8.perplexity / without.perplexity;
    assert!((0.98..1.03).contains(&ratio), "int8 window: {ratio}");
    // Anchors with an int8 window are int8 rows too: ⌊1% · 512⌋ = 5 more int8 tokens.
    let int8_anchored = evaluate_method_with_anchors(
        &model,
        &wins,
        vecinfer,
        Some(&balanced),
        CacheLayout {
            precision: WindowPrecision::Int8,
            ..layout
        },
        Some(anchors),
        false,
        &hidden,
    )
    .unwrap();
    let e = &int8_anchored.effective;
    assert_eq!((e.int8_tokens, e.fp16_tokens), (69, 0));
    assert_eq!(e.coded_tokens, int8.effective.coded_tokens - 5);
    assert_ne!(
        int8_anchored.perplexity, int8.perplexity,
        "no anchor was kept"
    );
    let ratio = int8_anchored.perplexity / int8.perplexity;
    assert!((0.9..1.05).contains(&ratio), "int8 anchors: {ratio}");
    // Not measured: absent, not 0.
    let unmeasured = evaluate_method(
        &model,
        &wins,
        Method::Kivi2,
        Some(&set),
        layout,
        false,
        &hidden,
    )
    .unwrap();
    assert_eq!(unmeasured.attention_relative_error, None);
    // Windows that fit in the fp16 part quantize nothing: an error, not a "2-bit" row.
    let short = windows(&eval, 64, Some(1)).unwrap();
    let err = evaluate_method(
        &model,
        &short,
        Method::Vq(KeyTransform::BOTH),
        Some(&set),
        layout,
        false,
        &hidden,
    )
    .unwrap_err();
    assert!(err.to_string().contains("would quantize nothing"), "{err}");
    // A method the file has no codebooks for is a clear error.
    let err = evaluate_method(
        &model,
        &wins,
        Method::Vq(KeyTransform::HADAMARD),
        Some(&set),
        layout,
        false,
        &hidden,
    )
    .unwrap_err();
    assert!(err.to_string().contains("hadamard"), "{err}");
}

#[test]
fn bad_inputs_give_clear_errors() {
    let err = Llama::load(std::path::Path::new("/nonexistent/model.gguf"))
        .err()
        .unwrap();
    assert!(matches!(err, ModelError::ModelMissing { .. }), "{err}");
    assert!(err.to_string().contains("vecinfer fetch-model"));
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.gguf");
    std::fs::write(&junk, b"not a gguf at all").unwrap();
    assert!(matches!(
        Llama::load(&junk).err().unwrap(),
        ModelError::BadModel { .. }
    ));

    let Some(path) = model_or_skip("bad_inputs_give_clear_errors") else {
        return;
    };
    let tok = GgufTokenizer::load(&path).unwrap();
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let err = read_tokens(&empty, &tok).unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
    let model = Llama::load(&path).unwrap();
    assert!(
        model
            .forward(&[], &mut vecinfer_model::ExactAttention)
            .is_err()
    );
    assert!(
        model
            .forward(&[60_000], &mut vecinfer_model::ExactAttention)
            .unwrap_err()
            .to_string()
            .contains("vocabulary")
    );
}

#[test]
fn dump_kv_writes_every_layer() {
    let Some(path) = model_or_skip("dump_kv_writes_every_layer") else {
        return;
    };
    let model = Llama::load(&path).unwrap();
    let tok = GgufTokenizer::load(&path).unwrap();
    let tokens = tok.encode("A short text to dump the cache of.").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("kv.safetensors");
    let c = model.config();
    let all: Vec<usize> = (0..c.layers).collect();
    vecinfer::dump::dump_kv(&model, &tokens, &all, "SmolLM2", &out).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(
        st.tensor("layer29.q").unwrap().shape(),
        &[c.q_heads, tokens.len(), c.head_dim]
    );
    assert_eq!(
        st.tensor("layer0.k").unwrap().shape(),
        &[c.kv_heads, tokens.len(), c.head_dim]
    );
    assert_eq!(st.names().len(), 3 * c.layers);
    vecinfer::dump::dump_kv(&model, &tokens, &[2, 7], "SmolLM2", &out).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.names().len(), 6);
    assert!(st.tensor("layer7.v").is_ok() && st.tensor("layer0.k").is_err());
}

#[test]
fn concurrent_dumps_to_one_output_leave_a_loadable_file() {
    let Some(path) = model_or_skip("concurrent_dumps_to_one_output_leave_a_loadable_file") else {
        return;
    };
    let model = Llama::load(&path).unwrap();
    let tok = GgufTokenizer::load(&path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("kv.safetensors");
    let texts = [
        "The first run's text.",
        "A second, different and longer text to dump.",
    ];
    std::thread::scope(|scope| {
        for text in texts {
            let (model, tok, out) = (&model, &tok, &out);
            scope.spawn(move || {
                let tokens = tok.encode(text).unwrap();
                vecinfer::dump::dump_kv(model, &tokens, &[0, 1], "SmolLM2", out).unwrap();
            });
        }
    });
    let bytes = std::fs::read(&out).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("one whole dump");
    let tokens: usize = st.tensor("layer0.k").unwrap().shape()[1];
    let lengths: Vec<usize> = texts.iter().map(|t| tok.encode(t).unwrap().len()).collect();
    assert!(
        lengths.contains(&tokens),
        "{tokens} is one run's length {lengths:?}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temp file left"
    );
}
