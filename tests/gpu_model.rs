//! The GPU engine against the CPU pass on the real model (SmolLM2) and on a small random one.
//! Needs an NVIDIA GPU (run with `cargo test --release -p vecinfer-tests --test gpu_model --
//! --ignored`); the model and the calibrated 2-bit codebooks as in `real_model.rs`.
//!
//! Tolerances: logits of the GPU pass (fp16 weights, fp16 GEMM inputs, f32 accumulation)
//! within 3% of the largest logit and the same top token at every step; perplexity within
//! 0.3% of the CPU eval (f32, K/V rounded to fp16) on the same windows.

use vecinfer::gpu_check::{real_model_checks, tiny_model_checks};
use vecinfer_quant::{CacheLayout, CodebookSet};
use vecinfer_tests::shared_data;

fn assert_all_pass(reports: &[vecinfer::gpu_check::CheckReport]) {
    for r in reports {
        eprintln!("{}", r.line());
    }
    let failed: Vec<_> = reports
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.line())
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

fn calibrated_codebooks() -> CodebookSet {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../bench/results/accuracy/cb-d4b8-d4b8-layer.safetensors");
    CodebookSet::load(&path).unwrap()
}

#[test]
#[ignore = "needs an NVIDIA GPU: the engine against the CPU pass on a small random model"]
fn tiny_random_model_matches_the_cpu_pass() {
    let dir = tempfile::tempdir().unwrap();
    assert_all_pass(&tiny_model_checks(dir.path(), true).unwrap());
}

#[test]
#[ignore = "needs an NVIDIA GPU and the fetched SmolLM2: logits, generation and perplexity (fp16, vecinfer 2-bit) against the CPU"]
fn smollm2_on_the_gpu_matches_the_cpu_pass() {
    let model = vecinfer_model::fetch::resolve_model(None).unwrap();
    let set = calibrated_codebooks();
    let text = shared_data("eval.txt");
    let reports = real_model_checks(
        &model,
        Some(&set),
        Some(&text),
        512,
        8,
        CacheLayout::default(),
    )
    .unwrap();
    assert_all_pass(&reports);
}
