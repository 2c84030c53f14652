//! CPU-side checks of the engine (no GPU): the weight layout the GEMMs read, the synthetic
//! GGUF the GPU checks use, the decode attention's split plans, and cache sizes.

use half::f16;
use vecinfer_codegen::ForwardConfig;
use vecinfer_engine::blas::{LinearShape, host_gemm_column_major};
use vecinfer_engine::kernels::{max_decode_splits, plan_decode_split};
use vecinfer_engine::synthetic::{smollm2_config, tiny_config, write_random_llama};
use vecinfer_engine::weights::to_f16_bits;
use vecinfer_engine::{WeightReader, WeightSource};
use vecinfer_model::{ExactAttention, GgufWeights, Llama};

fn tiny_gguf(tied: bool) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    write_random_llama(&path, &tiny_config(), 3, tied).unwrap();
    (dir, path)
}

#[test]
fn the_synthetic_gguf_loads_as_a_llama_with_its_config() {
    let (_dir, path) = tiny_gguf(false);
    let llama = Llama::load(&path).unwrap();
    assert_eq!(llama.config(), &tiny_config());
    let logits = llama.forward(&[1, 2, 3, 4], &mut ExactAttention).unwrap();
    assert_eq!(logits.dims(), &[4, tiny_config().vocab]);
    let values = logits.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert!(values.iter().all(|v| v.is_finite()));
}

#[test]
fn layers_stack_q_k_v_and_gate_up_as_fp16_rows() {
    let (_dir, path) = tiny_gguf(false);
    let c = tiny_config();
    let (e, d, f) = (c.embedding, c.head_dim, c.feed_forward);
    let mut reader = WeightReader::open(WeightSource::Gguf(&path)).unwrap();
    let mut gguf = GgufWeights::open(&path).unwrap();
    let layer = reader.layer(1).unwrap();
    let mut t = |name: &str, dims: &[usize]| {
        gguf.tensor_values(&format!("blk.1.{name}.weight"), dims)
            .unwrap()
    };
    let mut qkv = t("attn_q", &[c.q_heads * d, e]);
    qkv.extend(t("attn_k", &[c.kv_heads * d, e]));
    qkv.extend(t("attn_v", &[c.kv_heads * d, e]));
    assert_eq!(layer.qkv, to_f16_bits(&qkv));
    assert_eq!(layer.qkv.len(), (c.q_heads + 2 * c.kv_heads) * d * e);
    let mut gate_up = t("ffn_gate", &[f, e]);
    gate_up.extend(t("ffn_up", &[f, e]));
    assert_eq!(layer.gate_up, to_f16_bits(&gate_up));
    assert_eq!(
        layer.out,
        to_f16_bits(&t("attn_output", &[e, c.q_heads * d]))
    );
    assert_eq!(layer.down, to_f16_bits(&t("ffn_down", &[e, f])));
    assert_eq!(layer.attn_norm, t("attn_norm", &[e]));
    // K row 0 of layer 1 is row q_heads * D of the stack.
    let k0 = &layer.qkv[c.q_heads * d * e..][..e];
    assert_eq!(
        f16::from_bits(k0[3]).to_f32(),
        f16::from_f32(qkv[c.q_heads * d * e + 3]).to_f32()
    );
    assert!(reader.output_head().unwrap().is_some());
    let (_dir2, tied) = tiny_gguf(true);
    let mut reader = WeightReader::open(WeightSource::Gguf(&tied)).unwrap();
    assert!(
        reader.output_head().unwrap().is_none(),
        "tied models reuse the embedding"
    );
    assert_eq!(reader.embedding().unwrap().len(), c.vocab * e);
}

#[test]
fn a_projection_through_cublas_arguments_matches_the_cpu_pass() {
    // The CPU pass computes h · Wᵀ with W [out, in] row-major; the engine hands cuBLAS the
    // same buffers with LinearShape's arguments.
    let (rows, n, k) = (5, 7, 16);
    let act: Vec<f32> = (0..rows * k)
        .map(|i| ((i * 37) % 19) as f32 / 7.0 - 1.0)
        .collect();
    let weight: Vec<f32> = (0..n * k)
        .map(|i| ((i * 11) % 23) as f32 / 9.0 - 1.2)
        .collect();
    let mut out = vec![0f32; rows * n];
    host_gemm_column_major(
        LinearShape { rows, n, k }.cublas_arguments(),
        &weight,
        &act,
        &mut out,
    );
    let dev = candle_core::Device::Cpu;
    let a = candle_core::Tensor::from_slice(&act, (rows, k), &dev).unwrap();
    let w = candle_core::Tensor::from_slice(&weight, (n, k), &dev).unwrap();
    let want = a
        .matmul(&w.t().unwrap())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    for (g, w) in out.iter().zip(&want) {
        assert!((g - w).abs() < 1e-4, "{g} vs {w}");
    }
}

#[test]
fn decode_splits_cover_every_token_within_the_scratch_bound() {
    let config = ForwardConfig::new(64, 3);
    let step = config.decode_tokens_per_iteration();
    for (sm, pairs, capacity) in [
        (132, 3, 131_200),
        (132, 192, 8300),
        (132, 1200, 8300),
        (108, 45, 2048),
        (132, 9, 1),
    ] {
        let most = max_decode_splits(sm, pairs, capacity);
        for len in (1..=capacity).step_by(capacity / 97 + 1).chain([capacity]) {
            let p = plan_decode_split(&config, sm, pairs, len);
            assert!(p.splits * p.tokens_per_split >= len, "{len}: {p:?}");
            assert!(
                (p.splits - 1) * p.tokens_per_split < len,
                "{len}: an empty split in {p:?}"
            );
            assert_eq!(p.tokens_per_split % step, 0);
            assert!(p.tokens_per_split >= 256);
            assert!(p.splits <= most, "{len}: {p:?} over the bound {most}");
        }
    }
    // One sequence of 128k tokens fills the GPU: hundreds of splits.
    assert!(plan_decode_split(&config, 132, 3, 131_072).splits > 100);
    // Batch 400 x 3 heads already fills it: no split.
    assert_eq!(plan_decode_split(&config, 132, 1200, 8192).splits, 1);
}

#[test]
fn the_benchmark_shape_is_smollm2() {
    let c = smollm2_config();
    assert_eq!(
        (c.layers, c.embedding, c.q_heads, c.kv_heads, c.head_dim),
        (30, 576, 9, 3, 64)
    );
    // 12 GB of FP16 KV at 64 x 8192, as the issue says.
    let kv = 2 * 2 * c.layers * 64 * 8192 * c.kv_heads * c.head_dim;
    assert!((kv as f64 / 1e9 - 12.08).abs() < 0.01);
}
