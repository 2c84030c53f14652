//! A small random Llama GGUF (f32 tensors) for checks that need a model file but not the real
//! model: the GPU pass against the CPU pass, weight layout, shapes.

use crate::error::Result;
use crate::weights::noise;
use candle_core::quantized::{GgmlDType, QTensor, gguf_file};
use candle_core::{Device, Tensor};
use std::path::Path;
use vecinfer_model::LlamaConfig;

/// A config small enough for quick CPU passes, with the SmolLM2 head shape (D = 64, group 3).
pub fn tiny_config() -> LlamaConfig {
    LlamaConfig {
        name: "tiny-random-llama".into(),
        layers: 2,
        embedding: 384,
        feed_forward: 512,
        q_heads: 6,
        kv_heads: 2,
        head_dim: 64,
        rope_base: 10000.0,
        rms_eps: 1e-5f32 as f64,
        context: 1024,
        vocab: 512,
    }
}

/// Writes a GGUF of `config` with seeded random weights (projections scaled by
/// 1/sqrt(fan-in), norms near 1) and a placeholder vocabulary. `tied`: no `output.weight`.
pub fn write_random_llama(path: &Path, config: &LlamaConfig, seed: u64, tied: bool) -> Result<()> {
    let c = config;
    let d = c.head_dim;
    let mut tensors: Vec<(String, QTensor)> = Vec::new();
    let mut stream = 0u64;
    let mut add = |name: String, dims: &[usize]| -> Result<()> {
        stream += 1;
        let n: usize = dims.iter().product();
        let values = if dims.len() == 1 {
            noise(seed, stream, n, 0.2)
                .into_iter()
                .map(|v| 1.0 + v)
                .collect()
        } else {
            noise(seed, stream, n, 2.0 / (dims[1] as f32).sqrt())
        };
        let t = Tensor::from_vec(values, dims, &Device::Cpu)?;
        tensors.push((name, QTensor::quantize(&t, GgmlDType::F32)?));
        Ok(())
    };
    add("token_embd.weight".into(), &[c.vocab, c.embedding])?;
    for i in 0..c.layers {
        let name = |s: &str| format!("blk.{i}.{s}.weight");
        add(name("attn_norm"), &[c.embedding])?;
        add(name("attn_q"), &[c.q_heads * d, c.embedding])?;
        add(name("attn_k"), &[c.kv_heads * d, c.embedding])?;
        add(name("attn_v"), &[c.kv_heads * d, c.embedding])?;
        add(name("attn_output"), &[c.embedding, c.q_heads * d])?;
        add(name("ffn_norm"), &[c.embedding])?;
        add(name("ffn_gate"), &[c.feed_forward, c.embedding])?;
        add(name("ffn_up"), &[c.feed_forward, c.embedding])?;
        add(name("ffn_down"), &[c.embedding, c.feed_forward])?;
    }
    add("output_norm.weight".into(), &[c.embedding])?;
    if !tied {
        add("output.weight".into(), &[c.vocab, c.embedding])?;
    }
    use gguf_file::Value;
    let u32v = |x: usize| Value::U32(x as u32);
    let metadata: Vec<(&str, Value)> = vec![
        ("general.architecture", Value::String("llama".into())),
        ("general.name", Value::String(c.name.clone())),
        ("llama.block_count", u32v(c.layers)),
        ("llama.embedding_length", u32v(c.embedding)),
        ("llama.feed_forward_length", u32v(c.feed_forward)),
        ("llama.attention.head_count", u32v(c.q_heads)),
        ("llama.attention.head_count_kv", u32v(c.kv_heads)),
        ("llama.rope.freq_base", Value::F32(c.rope_base)),
        (
            "llama.attention.layer_norm_rms_epsilon",
            Value::F32(c.rms_eps as f32),
        ),
        ("llama.context_length", u32v(c.context)),
        (
            "tokenizer.ggml.tokens",
            Value::Array(
                (0..c.vocab)
                    .map(|i| Value::String(format!("t{i}")))
                    .collect(),
            ),
        ),
    ];
    let meta: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    let refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut file = std::fs::File::create(path).map_err(|e| {
        crate::EngineError::Invalid(format!("cannot create {}: {e}", path.display()))
    })?;
    gguf_file::write(&mut file, &meta, &refs)?;
    Ok(())
}

/// SmolLM2-135M's shape (`../shared/docs/model.md`), for benchmarks with random weights.
pub fn smollm2_config() -> LlamaConfig {
    LlamaConfig {
        name: "SmolLM2-135M shape, random weights".into(),
        layers: 30,
        embedding: 576,
        feed_forward: 1536,
        q_heads: 9,
        kv_heads: 3,
        head_dim: 64,
        rope_base: 100000.0,
        rms_eps: 1e-5f32 as f64,
        context: 8192,
        vocab: 49152,
    }
}
