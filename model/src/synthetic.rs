//! A tiny random Llama GGUF made in memory, for tests and fuzzing of the loader without the
//! real model: two layers, width 16, two query heads sharing one KV head, a byte-level
//! vocabulary of printable ASCII.

use crate::error::Result;
use crate::gguf::write_f32_gguf;
use candle_core::quantized::gguf_file::Value;

/// The tiny model's dimensions.
#[derive(Clone, Copy, Debug)]
pub struct TinyLlama {
    pub layers: usize,
    pub embedding: usize,
    pub q_heads: usize,
    pub kv_heads: usize,
    pub feed_forward: usize,
    pub context: u32,
}

impl Default for TinyLlama {
    fn default() -> Self {
        Self {
            layers: 2,
            embedding: 16,
            q_heads: 2,
            kv_heads: 1,
            feed_forward: 32,
            context: 64,
        }
    }
}

/// Byte-level tokens: printable ASCII, `Ġ` (space) and `Ċ` (newline), and two merges.
pub fn tokens() -> Vec<String> {
    let mut t: Vec<String> = ('!'..='~').map(String::from).collect();
    t.extend(["Ġ", "Ċ", "Ġt", "he"].map(String::from));
    t
}

impl TinyLlama {
    pub fn head_dim(&self) -> usize {
        self.embedding / self.q_heads
    }

    /// The metadata a Llama GGUF has, in file order.
    pub fn metadata(&self) -> Vec<(String, Value)> {
        let tokens = tokens();
        let md = [
            ("general.architecture", Value::String("llama".into())),
            ("general.name", Value::String("tiny".into())),
            ("llama.block_count", Value::U32(self.layers as u32)),
            ("llama.context_length", Value::U32(self.context)),
            ("llama.embedding_length", Value::U32(self.embedding as u32)),
            (
                "llama.feed_forward_length",
                Value::U32(self.feed_forward as u32),
            ),
            (
                "llama.attention.head_count",
                Value::U32(self.q_heads as u32),
            ),
            (
                "llama.attention.head_count_kv",
                Value::U32(self.kv_heads as u32),
            ),
            ("llama.rope.freq_base", Value::F32(10000.0)),
            (
                "llama.rope.dimension_count",
                Value::U32(self.head_dim() as u32),
            ),
            ("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
            ("tokenizer.ggml.model", Value::String("gpt2".into())),
            (
                "tokenizer.ggml.tokens",
                Value::Array(tokens.into_iter().map(Value::String).collect()),
            ),
            (
                "tokenizer.ggml.merges",
                Value::Array(vec![
                    Value::String("Ġ t".into()),
                    Value::String("h e".into()),
                ]),
            ),
        ];
        md.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    /// Every tensor with its GGUF-order shape (`[out, in]` as candle reads it), random values.
    pub fn tensors(&self, seed: u64) -> Vec<(String, Vec<usize>, Vec<f32>)> {
        let (e, f, d) = (self.embedding, self.feed_forward, self.head_dim());
        let vocab = tokens().len();
        let mut shapes = vec![
            ("token_embd.weight".to_string(), vec![vocab, e]),
            ("output_norm.weight".to_string(), vec![e]),
        ];
        for i in 0..self.layers {
            let n = |s: &str| format!("blk.{i}.{s}.weight");
            shapes.extend([
                (n("attn_norm"), vec![e]),
                (n("attn_q"), vec![self.q_heads * d, e]),
                (n("attn_k"), vec![self.kv_heads * d, e]),
                (n("attn_v"), vec![self.kv_heads * d, e]),
                (n("attn_output"), vec![e, self.q_heads * d]),
                (n("ffn_norm"), vec![e]),
                (n("ffn_gate"), vec![f, e]),
                (n("ffn_up"), vec![f, e]),
                (n("ffn_down"), vec![e, f]),
            ]);
        }
        // A small LCG: deterministic, no extra dependency.
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.5
        };
        shapes
            .into_iter()
            .map(|(name, shape)| {
                let norm = shape.len() == 1;
                let data = (0..shape.iter().product::<usize>())
                    .map(|_| if norm { 1.0 } else { next() })
                    .collect();
                (name, shape, data)
            })
            .collect()
    }

    /// The GGUF file's bytes, with `edit` applied to the metadata first.
    pub fn gguf_with(&self, edit: impl FnOnce(&mut Vec<(String, Value)>)) -> Result<Vec<u8>> {
        self.gguf_edited(edit, |_| {})
    }

    /// The GGUF file's bytes, with the metadata and the tensors (name, shape, values) edited.
    pub fn gguf_edited(
        &self,
        edit_metadata: impl FnOnce(&mut Vec<(String, Value)>),
        edit_tensors: impl FnOnce(&mut Vec<(String, Vec<usize>, Vec<f32>)>),
    ) -> Result<Vec<u8>> {
        let (mut md, mut tensors) = (self.metadata(), self.tensors(7));
        edit_metadata(&mut md);
        edit_tensors(&mut tensors);
        write_f32_gguf(&md, &tensors)
    }

    pub fn gguf(&self) -> Result<Vec<u8>> {
        self.gguf_with(|_| {})
    }
}

/// Sets `key` to `value` in `metadata` (adds it if absent).
pub fn set(metadata: &mut Vec<(String, Value)>, key: &str, value: Value) {
    match metadata.iter_mut().find(|(k, _)| k == key) {
        Some((_, v)) => *v = value,
        None => metadata.push((key.to_string(), value)),
    }
}

/// Removes `key` from `metadata`.
pub fn remove(metadata: &mut Vec<(String, Value)>, key: &str) {
    metadata.retain(|(k, _)| k != key);
}
