//! A Llama-architecture forward pass on the CPU, with the attention step handed to an
//! [`AttentionBackend`] so the KV cache can be read (calibration, dumps) or replaced by a
//! quantized one (evaluation).
//!
//! Weights are dequantized from the GGUF to f32 once at load: candle's quantized matmul is
//! several times slower on two cores than its f32 GEMM.

use crate::error::{ModelError, Result, io_error};
use candle_core::quantized::gguf_file;
use candle_core::{D, DType, Device, Tensor};
use rayon::prelude::*;
use std::path::Path;

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LlamaConfig {
    pub name: String,
    pub layers: usize,
    pub embedding: usize,
    pub feed_forward: usize,
    pub q_heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub rope_base: f32,
    pub rms_eps: f64,
    pub context: usize,
    pub vocab: usize,
}

impl LlamaConfig {
    pub fn group(&self) -> usize {
        self.q_heads / self.kv_heads
    }
}

/// Head counts and dim of the tensors handed to an [`AttentionBackend`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadShape {
    pub q_heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub tokens: usize,
}

/// The attention of one layer over one window. `q` is `[q_heads, T, D]`, `k` and `v` are
/// `[kv_heads, T, D]` (row-major), all post-RoPE, for window positions `0..T`. Returns
/// `[q_heads, T, D]`, causal: position `t` sees keys `0..=t`. Query heads `h*G..(h+1)*G`
/// share KV head `h`.
pub trait AttentionBackend {
    fn attend(
        &mut self,
        layer: usize,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        shape: HeadShape,
    ) -> Result<Vec<f32>>;
}

struct Block {
    attn_norm: Tensor,
    /// `[E, E + 2 * kv_heads * D]`: Q, K and V projections in one GEMM.
    qkv_t: Tensor,
    out_t: Tensor,
    ffn_norm: Tensor,
    /// `[E, 2 * F]`: gate and up projections in one GEMM.
    gate_up_t: Tensor,
    down_t: Tensor,
}

pub struct Llama {
    config: LlamaConfig,
    embed: Tensor,
    blocks: Vec<Block>,
    final_norm: Tensor,
    lm_head_t: Tensor,
    /// RoPE's rotation frequencies, `[D/2]`; the angles are made per window (a table for
    /// the whole context would be as large as the context, which a GGUF may declare absurd).
    rope_freqs: Vec<f64>,
}

/// The longest context this forward pass accepts from a GGUF (16M tokens, beyond any
/// released Llama): a larger `context_length` is taken for corruption.
pub const MAX_CONTEXT: usize = 1 << 24;

/// A seekable GGUF source.
pub trait GgufSource: std::io::Read + std::io::Seek {}
impl<R: std::io::Read + std::io::Seek> GgufSource for R {}

/// A Llama GGUF opened for reading, its header and config checked: its tensors dequantized
/// to f32 one at a time in the GGUF's row-major layout (`[out, in]` for projections). The CPU
/// pass keeps them as they come; a GPU engine converts and uploads them.
pub struct GgufWeights<'r> {
    name: String,
    reader: Box<dyn GgufSource + 'r>,
    content: gguf_file::Content,
    config: LlamaConfig,
}

impl GgufWeights<'static> {
    pub fn open(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ModelError::ModelMissing {
                path: path.display().to_string(),
            },
            _ => io_error(path)(e),
        })?;
        GgufWeights::from_reader(Box::new(file), &path.display().to_string())
    }
}

impl<'r> GgufWeights<'r> {
    /// From any GGUF source (`name` names it in errors): header, config and tensor shapes
    /// are checked before any tensor is read.
    pub fn from_reader(mut reader: Box<dyn GgufSource + 'r>, name: &str) -> Result<Self> {
        let content = crate::gguf::read_header(&mut reader, name)?;
        let config = read_config(&content, name)?;
        check_shapes(&content, &config).map_err(|problem| ModelError::BadModel {
            path: name.to_string(),
            problem,
        })?;
        Ok(Self {
            name: name.to_string(),
            reader,
            content,
            config,
        })
    }

    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    pub fn contains(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }

    fn bad(&self, problem: String) -> ModelError {
        ModelError::BadModel {
            path: self.name.clone(),
            problem,
        }
    }

    /// Tensor `name`, dequantized to f32 on the CPU.
    pub fn tensor(&mut self, name: &str) -> Result<Tensor> {
        let device = Device::Cpu;
        let q = self
            .content
            .tensor(&mut self.reader, name, &device)
            .map_err(|e| self.bad(format!("tensor {name}: {e}")))?;
        Ok(q.dequantize(&device)?.to_dtype(DType::F32)?)
    }

    /// Tensor `name` as f32 values (row-major) with its dims, checked against `dims`.
    pub fn tensor_values(&mut self, name: &str, dims: &[usize]) -> Result<Vec<f32>> {
        let t = self.tensor(name)?;
        if t.dims() != dims {
            return Err(self.bad(format!(
                "{name} has shape {:?}, expected {dims:?}",
                t.dims()
            )));
        }
        Ok(t.flatten_all()?.to_vec1::<f32>()?)
    }
}

impl Llama {
    pub fn load(path: &Path) -> Result<Self> {
        Self::from_weights(GgufWeights::open(path)?)
    }

    /// As [`Llama::load`], from any GGUF source (`name` names it in errors).
    pub fn from_reader<R: std::io::Read + std::io::Seek>(
        reader: &mut R,
        name: &str,
    ) -> Result<Self> {
        Self::from_weights(GgufWeights::from_reader(Box::new(reader), name)?)
    }

    fn from_weights(mut weights: GgufWeights<'_>) -> Result<Self> {
        let config = weights.config().clone();
        let mut tensor = |name: &str| -> Result<Tensor> { weights.tensor(name) };
        let transposed = |t: Tensor| -> Result<Tensor> { Ok(t.t()?.contiguous()?) };
        let embed = tensor("token_embd.weight")?;
        let mut blocks = Vec::with_capacity(config.layers);
        for i in 0..config.layers {
            let name = |s: &str| format!("blk.{i}.{s}.weight");
            let qkv = Tensor::cat(
                &[
                    tensor(&name("attn_q"))?,
                    tensor(&name("attn_k"))?,
                    tensor(&name("attn_v"))?,
                ],
                0,
            )?;
            let gate_up = Tensor::cat(&[tensor(&name("ffn_gate"))?, tensor(&name("ffn_up"))?], 0)?;
            blocks.push(Block {
                attn_norm: tensor(&name("attn_norm"))?,
                qkv_t: transposed(qkv)?,
                out_t: transposed(tensor(&name("attn_output"))?)?,
                ffn_norm: tensor(&name("ffn_norm"))?,
                gate_up_t: transposed(gate_up)?,
                down_t: transposed(tensor(&name("ffn_down"))?)?,
            });
        }
        let final_norm = tensor("output_norm.weight")?;
        // Tied embeddings (SmolLM2) ship no output.weight.
        let lm_head = if weights.contains("output.weight") {
            weights.tensor("output.weight")?
        } else {
            embed.clone()
        };
        let rope_freqs = rope_frequencies(config.head_dim, config.rope_base);
        Ok(Self {
            lm_head_t: transposed(lm_head)?,
            config,
            embed,
            blocks,
            final_norm,
            rope_freqs,
        })
    }

    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    /// Logits `[T, vocab]` for a window of tokens at positions `0..T`.
    pub fn forward(&self, tokens: &[u32], backend: &mut dyn AttentionBackend) -> Result<Tensor> {
        let x = self.embed(tokens)?;
        let x = self.run_layers(x, 0..self.config.layers, backend)?;
        self.logits(&x)
    }

    /// The residual stream entering layer 0: the window's token embeddings `[T, E]`.
    pub fn embed(&self, tokens: &[u32]) -> Result<Tensor> {
        let c = &self.config;
        let t = tokens.len();
        if t == 0 || t > c.context {
            return Err(ModelError::InvalidInput(format!(
                "window of {t} tokens: must be 1..={} (the model's context)",
                c.context
            )));
        }
        if let Some(&bad) = tokens.iter().find(|&&id| id as usize >= c.vocab) {
            return Err(ModelError::InvalidInput(format!(
                "token id {bad} is outside the vocabulary of {}",
                c.vocab
            )));
        }
        let ids = Tensor::new(tokens, &Device::Cpu)?;
        Ok(self.embed.index_select(&ids, 0)?)
    }

    /// The residual stream `x` `[T, E]` (positions `0..T`) after `layers`, from the stream
    /// entering the first of them: [`Self::forward`] in pieces, bit for bit, so that a probe
    /// can start many runs from one prefix.
    pub fn run_layers(
        &self,
        mut x: Tensor,
        layers: std::ops::Range<usize>,
        backend: &mut dyn AttentionBackend,
    ) -> Result<Tensor> {
        let c = &self.config;
        let (t, width) = x.dims2()?;
        if width != c.embedding || t == 0 || t > c.context || layers.end > c.layers {
            return Err(ModelError::InvalidInput(format!(
                "a residual stream of {t} x {width} through layers {layers:?}: the model takes 1..={} rows of {} through layers below {}",
                c.context, c.embedding, c.layers
            )));
        }
        for layer in layers {
            let block = &self.blocks[layer];
            let h = rms_norm(&x, &block.attn_norm, c.rms_eps)?;
            let qkv = h.matmul(&block.qkv_t)?;
            let heads = self.split_heads_with_rope(&qkv, t)?;
            let (q, rest) = heads.split_at(c.q_heads * t * c.head_dim);
            let (k, v) = rest.split_at(c.kv_heads * t * c.head_dim);
            let shape = HeadShape {
                q_heads: c.q_heads,
                kv_heads: c.kv_heads,
                head_dim: c.head_dim,
                tokens: t,
            };
            let attn = backend.attend(layer, q, k, v, shape)?;
            if attn.len() != q.len() {
                return Err(ModelError::InvalidInput(format!(
                    "attention backend returned {} values, expected {}",
                    attn.len(),
                    q.len()
                )));
            }
            // [Hq, T, D] -> [T, Hq * D]
            let attn = Tensor::from_vec(attn, (c.q_heads, t, c.head_dim), &Device::Cpu)?
                .transpose(0, 1)?
                .contiguous()?
                .reshape((t, c.q_heads * c.head_dim))?;
            x = (x + attn.matmul(&block.out_t)?)?;
            let h = rms_norm(&x, &block.ffn_norm, c.rms_eps)?;
            let gate_up = h.matmul(&block.gate_up_t)?;
            let gate = gate_up.narrow(1, 0, c.feed_forward)?;
            let up = gate_up.narrow(1, c.feed_forward, c.feed_forward)?;
            let act = (gate.silu()? * up)?;
            x = (x + act.matmul(&block.down_t)?)?;
        }
        Ok(x)
    }

    /// Logits `[T, vocab]` from the residual stream after the last layer.
    pub fn logits(&self, x: &Tensor) -> Result<Tensor> {
        let x = rms_norm(x, &self.final_norm, self.config.rms_eps)?;
        Ok(x.matmul(&self.lm_head_t)?)
    }

    /// Splits the fused projection into Q `[Hq, T, D]`, K and V `[Hk, T, D]` (concatenated in
    /// that order), applying RoPE (GGUF's interleaved-pair convention) to Q and K.
    fn split_heads_with_rope(&self, qkv: &Tensor, t: usize) -> Result<Vec<f32>> {
        let c = &self.config;
        let d = c.head_dim;
        let width = qkv.dim(1)?;
        let flat = qkv.flatten_all()?.to_vec1::<f32>()?;
        let (rope_cos, rope_sin) = angle_tables(t, &self.rope_freqs);
        let heads_total = c.q_heads + 2 * c.kv_heads;
        // out[h][t][:] for every head of Q, K, V in order
        let mut out = vec![0f32; heads_total * t * d];
        out.par_chunks_mut(t * d)
            .enumerate()
            .for_each(|(head, dst)| {
                let rotate = head < c.q_heads + c.kv_heads;
                for pos in 0..t {
                    let src = &flat[pos * width + head * d..pos * width + (head + 1) * d];
                    let row = &mut dst[pos * d..(pos + 1) * d];
                    if rotate {
                        let cos = &rope_cos[pos * d / 2..(pos + 1) * d / 2];
                        let sin = &rope_sin[pos * d / 2..(pos + 1) * d / 2];
                        for i in 0..d / 2 {
                            let (a, b) = (src[2 * i], src[2 * i + 1]);
                            row[2 * i] = a * cos[i] - b * sin[i];
                            row[2 * i + 1] = a * sin[i] + b * cos[i];
                        }
                    } else {
                        row.copy_from_slice(src);
                    }
                }
            });
        Ok(out)
    }
}

fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    let mean_square = x.sqr()?.mean_keepdim(D::Minus1)?;
    Ok(x.broadcast_div(&(mean_square + eps)?.sqrt()?)?
        .broadcast_mul(weight)?)
}

/// RoPE's frequency of each rotated pair: `base^(−2i/D)`.
fn rope_frequencies(head_dim: usize, base: f32) -> Vec<f64> {
    (0..head_dim / 2)
        .map(|i| 1.0 / (base as f64).powf(2.0 * i as f64 / head_dim as f64))
        .collect()
}

/// RoPE angle tables `[positions, D/2]` (cos, sin), computed in f64 then rounded to f32; the
/// GPU engine uploads the same tables.
pub fn rope_tables(positions: usize, head_dim: usize, base: f32) -> (Vec<f32>, Vec<f32>) {
    angle_tables(positions, &rope_frequencies(head_dim, base))
}

/// Cos and sin of the rotation angles for positions `0..positions`, `[positions, D/2]`.
fn angle_tables(positions: usize, freqs: &[f64]) -> (Vec<f32>, Vec<f32>) {
    let mut cos = Vec::with_capacity(positions * freqs.len());
    let mut sin = Vec::with_capacity(positions * freqs.len());
    for pos in 0..positions {
        for &freq in freqs {
            let angle = pos as f64 * freq;
            cos.push(angle.cos() as f32);
            sin.push(angle.sin() as f32);
        }
    }
    (cos, sin)
}

/// Every tensor the forward pass reads has the shape the config implies (candle's order,
/// `[out, in]`), checked before any data is read.
fn check_shapes(content: &gguf_file::Content, c: &LlamaConfig) -> std::result::Result<(), String> {
    let (e, f) = (c.embedding, c.feed_forward);
    let (q, kv) = (c.q_heads * c.head_dim, c.kv_heads * c.head_dim);
    let mut want: Vec<(String, Vec<usize>)> = vec![
        ("token_embd.weight".into(), vec![c.vocab, e]),
        ("output_norm.weight".into(), vec![e]),
    ];
    if content.tensor_infos.contains_key("output.weight") {
        want.push(("output.weight".into(), vec![c.vocab, e]));
    }
    for i in 0..c.layers {
        let n = |s: &str| format!("blk.{i}.{s}.weight");
        want.extend([
            (n("attn_norm"), vec![e]),
            (n("attn_q"), vec![q, e]),
            (n("attn_k"), vec![kv, e]),
            (n("attn_v"), vec![kv, e]),
            (n("attn_output"), vec![e, q]),
            (n("ffn_norm"), vec![e]),
            (n("ffn_gate"), vec![f, e]),
            (n("ffn_up"), vec![f, e]),
            (n("ffn_down"), vec![e, f]),
        ]);
    }
    for (name, dims) in want {
        let Some(info) = content.tensor_infos.get(&name) else {
            return Err(format!("tensor {name} is missing"));
        };
        if info.shape.dims() != dims.as_slice() {
            return Err(format!(
                "{name} has shape {:?}, expected {dims:?} from the metadata",
                info.shape.dims()
            ));
        }
    }
    if content.tensor_infos.contains_key("rope_freqs.weight") {
        return Err(
            "it has rope_freqs.weight (Llama 3.1-style RoPE scaling), which this forward pass does not apply".into(),
        );
    }
    Ok(())
}

/// The model's dimensions from its metadata; every value is checked (a key present with the
/// wrong type or an impossible value is an error naming it, never a silent default).
fn read_config(content: &gguf_file::Content, name: &str) -> Result<LlamaConfig> {
    use crate::gguf::{describe, float, invalid, unsigned};
    let md = &content.metadata;
    let missing = |key: &str| ModelError::BadModel {
        path: name.to_string(),
        problem: format!("metadata {key} is missing"),
    };
    let arch = match md.get("general.architecture") {
        Some(gguf_file::Value::String(s)) => s.clone(),
        Some(v) => {
            return Err(invalid(
                name,
                "general.architecture",
                describe(v),
                "\"llama\"",
            ));
        }
        None => return Err(missing("general.architecture")),
    };
    if arch != "llama" {
        return Err(invalid(
            name,
            "general.architecture",
            format!("{arch:?}"),
            "\"llama\" (only Llama-architecture models are supported)",
        ));
    }
    // A count in `1..=max`; `None` when absent.
    let count = |key: &str, max: usize| -> Result<Option<usize>> {
        let Some(v) = md.get(key) else {
            return Ok(None);
        };
        match unsigned(v).and_then(|x| usize::try_from(x).ok()) {
            Some(x) if (1..=max).contains(&x) => Ok(Some(x)),
            _ => Err(invalid(
                name,
                key,
                describe(v),
                &format!("an integer from 1 to {max}"),
            )),
        }
    };
    let required = |key: &str, max: usize| count(key, max)?.ok_or_else(|| missing(key));
    // A positive, finite float; `default` when absent.
    let positive = |key: &str, default: f64| -> Result<f64> {
        let Some(v) = md.get(key) else {
            return Ok(default);
        };
        match float(v) {
            Some(x) if x.is_finite() && x > 0.0 => Ok(x),
            _ => Err(invalid(
                name,
                key,
                describe(v),
                &format!("a positive, finite float (e.g. {default})"),
            )),
        }
    };
    const MAX_HEADS: usize = 1 << 12;
    const MAX_WIDTH: usize = 1 << 20;
    let q_heads = required("llama.attention.head_count", MAX_HEADS)?;
    let kv_heads = count("llama.attention.head_count_kv", MAX_HEADS)?.unwrap_or(q_heads);
    let embedding = required("llama.embedding_length", MAX_WIDTH)?;
    let vocab = match md.get("tokenizer.ggml.tokens") {
        Some(gguf_file::Value::Array(tokens)) if !tokens.is_empty() => tokens.len(),
        Some(v) => {
            return Err(invalid(
                name,
                "tokenizer.ggml.tokens",
                describe(v),
                "a non-empty array of token strings",
            ));
        }
        None => return Err(missing("tokenizer.ggml.tokens")),
    };
    if !q_heads.is_multiple_of(kv_heads) || !embedding.is_multiple_of(q_heads) {
        return Err(ModelError::BadModel {
            path: name.to_string(),
            problem: format!(
                "{q_heads} query heads, {kv_heads} KV heads and width {embedding} do not fit together (query heads must be a multiple of KV heads, the width a multiple of query heads)"
            ),
        });
    }
    let head_dim = embedding / q_heads;
    if !head_dim.is_multiple_of(2) {
        return Err(ModelError::BadModel {
            path: name.to_string(),
            problem: format!("head dim {head_dim} is odd: RoPE rotates pairs of elements"),
        });
    }
    for key in [
        "llama.rope.dimension_count",
        "llama.attention.key_length",
        "llama.attention.value_length",
    ] {
        if let Some(v) = md.get(key)
            && unsigned(v) != Some(head_dim as u64)
        {
            return Err(invalid(
                name,
                key,
                describe(v),
                &format!(
                    "the head dim {head_dim} (width {embedding} / {q_heads} heads): partial rotary embeddings and other head sizes are not supported"
                ),
            ));
        }
    }
    if let Some(v) = md.get("llama.rope.scaling.type")
        && !matches!(v, gguf_file::Value::String(s) if s == "none")
    {
        return Err(invalid(
            name,
            "llama.rope.scaling.type",
            describe(v),
            "\"none\" (RoPE scaling is not supported)",
        ));
    }
    let rope_base = positive("llama.rope.freq_base", 10000.0)?;
    if rope_base as f32 <= 0.0 || !(rope_base as f32).is_finite() {
        return Err(invalid(
            name,
            "llama.rope.freq_base",
            rope_base.to_string(),
            "a positive float within f32 range (e.g. 10000)",
        ));
    }
    Ok(LlamaConfig {
        name: md
            .get("general.name")
            .and_then(|v| v.to_string().ok().cloned())
            .unwrap_or_else(|| "llama".into()),
        layers: required("llama.block_count", 1 << 16)?,
        embedding,
        feed_forward: required("llama.feed_forward_length", MAX_WIDTH * 8)?,
        q_heads,
        kv_heads,
        head_dim,
        rope_base: rope_base as f32,
        rms_eps: positive("llama.attention.layer_norm_rms_epsilon", 1e-5)?,
        context: required("llama.context_length", MAX_CONTEXT)?,
        vocab,
    })
}
