//! The real model for accuracy work: a Llama GGUF on the CPU whose KV cache is open to the
//! caller, its tokenizer, and the fetcher for the project's default model.

pub mod attention;
pub mod error;
pub mod fetch;
pub mod gguf;
pub mod llama;
pub mod synthetic;
pub mod tokenizer;

pub use attention::{
    AnchorChooser, AttentionResult, LayerKv, ReceivedAttention, attention_error, banded_attention,
    banded_attention_with_anchors, received_attention,
};
/// The residual stream and logits of [`Llama::run_layers`] and [`Llama::logits`].
pub use candle_core::Tensor;
pub use error::{ModelError, Result};
pub use llama::{AttentionBackend, GgufWeights, HeadShape, Llama, LlamaConfig, rope_tables};
pub use tokenizer::GgufTokenizer;

/// Exact causal attention over the window.
#[derive(Default)]
pub struct ExactAttention;

impl AttentionBackend for ExactAttention {
    fn attend(
        &mut self,
        _layer: usize,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        shape: HeadShape,
    ) -> Result<Vec<f32>> {
        let kv = || LayerKv { keys: k, values: v };
        Ok(banded_attention(q, shape, kv(), kv(), &|n| 0..n, false)?.output)
    }
}

/// Greedy generation (recomputes the window each step; for sanity checks, not speed).
pub fn generate_greedy(
    model: &Llama,
    prompt: &[u32],
    new_tokens: usize,
    eos: Option<u32>,
) -> Result<Vec<u32>> {
    let mut tokens = prompt.to_vec();
    for _ in 0..new_tokens {
        let logits = model.forward(&tokens, &mut ExactAttention)?;
        let last = logits.get(tokens.len() - 1)?.to_vec1::<f32>()?;
        let next = last
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i as u32)
            .unwrap_or(0);
        if Some(next) == eos {
            break;
        }
        tokens.push(next);
    }
    Ok(tokens[prompt.len()..].to_vec())
}
