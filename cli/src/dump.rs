//! `dump-kv`: the real post-RoPE Q, K and V of every layer, as safetensors.
//!
//! Tensors `layer{l}.q` `[q_heads, T, D]`, `layer{l}.k` and `layer{l}.v` `[kv_heads, T, D]`, f32,
//! for window positions `0..T`; metadata gives the model and shape.

use crate::error::{CliError, Result, write_output};
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
    write_tensors(&tensors, metadata, out)
}

/// Writes f32 tensors (name, little-endian bytes, shape) and metadata as safetensors at
/// `out`, atomically: a failed or concurrent write never leaves a file that does not load.
/// Returns the bytes written.
pub fn write_tensors(
    tensors: &[(String, Vec<u8>, Vec<usize>)],
    metadata: HashMap<String, String>,
    out: &Path,
) -> Result<usize> {
    let views = tensors
        .iter()
        .map(|(n, b, s)| {
            TensorView::new(Dtype::F32, s.clone(), b)
                .map(|view| (n.clone(), view))
                .map_err(|e| CliError::Invalid(format!("tensor {n}: {e}")))
        })
        .collect::<Result<Vec<(String, TensorView<'_>)>>>()?;
    let bytes = safetensors::serialize(views, Some(metadata))
        .map_err(|e| CliError::Invalid(format!("serialising the dump: {e}")))?;
    write_output(out, &bytes)?;
    Ok(bytes.len())
}

/// `--layers`: comma-separated layer numbers below `layers`, each once; `None` is all.
pub fn parse_layers(list: Option<&str>, layers: usize) -> Result<Vec<usize>> {
    let Some(list) = list else {
        return Ok((0..layers).collect());
    };
    let bad = |why: String| CliError::BadOption {
        option: "--layers",
        given: format!("{list:?}"),
        valid: why,
    };
    let mut out: Vec<usize> = Vec::new();
    for l in list.split(',') {
        match l.trim().parse::<usize>() {
            Ok(n) if n < layers && !out.contains(&n) => out.push(n),
            Ok(n) if n < layers => return Err(bad(format!("layer {n} is named twice"))),
            _ => {
                return Err(bad(format!(
                    "{l:?} is not a layer of this model: valid layers are 0..{layers}, comma-separated"
                )));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensors(fill: f32) -> Vec<(String, Vec<u8>, Vec<usize>)> {
        let values = vec![fill; 4096];
        let bytes: Vec<u8> = values.iter().flat_map(|f| f.to_le_bytes()).collect();
        vec![("layer0.k".into(), bytes, vec![1, 1024, 4])]
    }

    #[test]
    fn concurrent_dumps_to_one_output_leave_a_loadable_file() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("kv.safetensors");
        std::thread::scope(|scope| {
            for run in 0..4 {
                let out = &out;
                scope.spawn(move || {
                    for _ in 0..20 {
                        write_tensors(&tensors(run as f32), HashMap::new(), out).unwrap();
                    }
                });
            }
        });
        let bytes = std::fs::read(&out).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).expect("a whole file");
        let data = st.tensor("layer0.k").unwrap().data().to_vec();
        assert!(data.chunks_exact(4).all(|c| c == &data[..4]), "one run's");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[test]
    fn a_failed_dump_keeps_the_previous_file() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("kv.safetensors");
        write_tensors(&tensors(1.0), HashMap::new(), &out).unwrap();
        let before = std::fs::read(&out).unwrap();
        // Bytes that do not match the shape: refused before anything is written.
        let bad = vec![("x".to_string(), vec![0u8; 3], vec![1usize])];
        assert!(write_tensors(&bad, HashMap::new(), &out).is_err());
        assert_eq!(std::fs::read(&out).unwrap(), before);
    }

    #[test]
    fn layers_are_checked_against_the_model() {
        assert_eq!(parse_layers(None, 3).unwrap(), [0, 1, 2]);
        assert_eq!(parse_layers(Some("2, 0"), 3).unwrap(), [2, 0]);
        for bad in ["3", "1,1", "", "a", "-1", "1,,2"] {
            let err = parse_layers(Some(bad), 3).unwrap_err().to_string();
            assert!(err.contains("--layers"), "{bad}: {err}");
        }
    }
}
