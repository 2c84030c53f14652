//! `dump-kv`: the real post-RoPE Q, K and V of every layer, as safetensors.
//!
//! Tensors `layer{l}.q` `[q_heads, T, D]`, `layer{l}.k` and `layer{l}.v` `[kv_heads, T, D]`, f32,
//! for window positions `0..T`; metadata gives the model and shape.

use crate::error::{CliError, Result, io_error};
use crate::recording::RecordingAttention;
use safetensors::tensor::{Dtype, TensorView};
use std::collections::HashMap;
use std::path::Path;
use vecinfer_model::Llama;

/// Writes the layers listed in `layers` (all of them: `0..layers`).
pub fn dump_kv(
    model: &Llama,
    tokens: &[u32],
    layers: &[usize],
    model_id: &str,
    out: &Path,
) -> Result<usize> {
    let c = model.config();
    let mut tensors: Vec<(String, Vec<u8>, Vec<usize>)> = Vec::new();
    let mut backend = RecordingAttention {
        on_layer: |layer: usize, q: &[f32], k: &[f32], v: &[f32], s: vecinfer_model::HeadShape| {
            if !layers.contains(&layer) {
                return;
            }
            let bytes = |x: &[f32]| x.iter().flat_map(|f| f.to_le_bytes()).collect::<Vec<u8>>();
            tensors.push((
                format!("layer{layer}.q"),
                bytes(q),
                vec![s.q_heads, s.tokens, s.head_dim],
            ));
            tensors.push((
                format!("layer{layer}.k"),
                bytes(k),
                vec![s.kv_heads, s.tokens, s.head_dim],
            ));
            tensors.push((
                format!("layer{layer}.v"),
                bytes(v),
                vec![s.kv_heads, s.tokens, s.head_dim],
            ));
        },
    };
    model.forward(tokens, &mut backend)?;
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, b, s)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).expect("sizes agree by construction"),
            )
        })
        .collect();
    let metadata: HashMap<String, String> = [
        ("model_id", model_id.to_string()),
        ("layers", c.layers.to_string()),
        ("q_heads", c.q_heads.to_string()),
        ("kv_heads", c.kv_heads.to_string()),
        ("head_dim", c.head_dim.to_string()),
        ("tokens", tokens.len().to_string()),
        ("rope_base", c.rope_base.to_string()),
        (
            "layout",
            "post-RoPE, [heads, tokens, head_dim], f32".to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let bytes = safetensors::serialize(views, Some(metadata))
        .map_err(|e| CliError::Invalid(format!("serialising the dump: {e}")))?;
    std::fs::write(out, &bytes).map_err(io_error(out))?;
    Ok(bytes.len())
}
