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
    /// `[context, D/2]` rotation angles' cos and sin.
    rope_cos: Vec<f32>,
    rope_sin: Vec<f32>,
}

/// A Llama GGUF opened for reading: its config, and its tensors dequantized to f32 one at a
/// time in the GGUF's row-major layout (`[out, in]` for projections). The CPU pass keeps them
/// as they come; a GPU engine converts and uploads them.
pub struct GgufWeights {
    path: std::path::PathBuf,
    file: std::fs::File,
    content: gguf_file::Content,
    config: LlamaConfig,
}

impl GgufWeights {
    pub fn open(path: &Path) -> Result<Self> {
        let mut file = std::fs::File::open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ModelError::ModelMissing {
                path: path.display().to_string(),
            },
            _ => io_error(path)(e),
        })?;
        let bad = |problem: String| ModelError::BadModel {
            path: path.display().to_string(),
            problem,
        };
        let content = gguf_file::Content::read(&mut file)
            .map_err(|e| bad(format!("cannot read GGUF header: {e}")))?;
        let config = read_config(&content).map_err(bad)?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
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
            path: self.path.display().to_string(),
            problem,
        }
    }

    /// Tensor `name`, dequantized to f32 on the CPU.
    pub fn tensor(&mut self, name: &str) -> Result<Tensor> {
        let device = Device::Cpu;
        let q = self
            .content
            .tensor(&mut self.file, name, &device)
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
        let bad = |problem: String| ModelError::BadModel {
            path: path.display().to_string(),
            problem,
        };
        let mut weights = GgufWeights::open(path)?;
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
        let check = |t: &Tensor, dims: &[usize], what: &str| -> Result<()> {
            if t.dims() != dims {
                return Err(bad(format!(
                    "{what} has shape {:?}, expected {dims:?}",
                    t.dims()
                )));
            }
            Ok(())
        };
        check(
            &embed,
            &[config.vocab, config.embedding],
            "token_embd.weight",
        )?;
        let kv = config.kv_heads * config.head_dim;
        check(
            &blocks[0].qkv_t,
            &[config.embedding, config.embedding + 2 * kv],
            "attn_q/k/v",
        )?;
        let (rope_cos, rope_sin) = rope_tables(config.context, config.head_dim, config.rope_base);
        Ok(Self {
            lm_head_t: transposed(lm_head)?,
            config,
            embed,
            blocks,
            final_norm,
            rope_cos,
            rope_sin,
        })
    }

    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    /// Logits `[T, vocab]` for a window of tokens at positions `0..T`.
    pub fn forward(&self, tokens: &[u32], backend: &mut dyn AttentionBackend) -> Result<Tensor> {
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
        let mut x = self.embed.index_select(&ids, 0)?;
        for (layer, block) in self.blocks.iter().enumerate() {
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
        let x = rms_norm(&x, &self.final_norm, c.rms_eps)?;
        Ok(x.matmul(&self.lm_head_t)?)
    }

    /// Splits the fused projection into Q `[Hq, T, D]`, K and V `[Hk, T, D]` (concatenated in
    /// that order), applying RoPE (GGUF's interleaved-pair convention) to Q and K.
    fn split_heads_with_rope(&self, qkv: &Tensor, t: usize) -> Result<Vec<f32>> {
        let c = &self.config;
        let d = c.head_dim;
        let width = qkv.dim(1)?;
        let flat = qkv.flatten_all()?.to_vec1::<f32>()?;
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
                        let cos = &self.rope_cos[pos * d / 2..(pos + 1) * d / 2];
                        let sin = &self.rope_sin[pos * d / 2..(pos + 1) * d / 2];
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

/// RoPE angle tables `[positions, D/2]` (cos, sin), computed in f64 then rounded to f32; the GPU
/// engine uploads the same tables.
pub fn rope_tables(context: usize, head_dim: usize, base: f32) -> (Vec<f32>, Vec<f32>) {
    let half = head_dim / 2;
    let mut cos = Vec::with_capacity(context * half);
    let mut sin = Vec::with_capacity(context * half);
    for pos in 0..context {
        for i in 0..half {
            let freq = 1.0 / (base as f64).powf(2.0 * i as f64 / head_dim as f64);
            let angle = pos as f64 * freq;
            cos.push(angle.cos() as f32);
            sin.push(angle.sin() as f32);
        }
    }
    (cos, sin)
}

fn read_config(content: &gguf_file::Content) -> std::result::Result<LlamaConfig, String> {
    let md = &content.metadata;
    let get = |key: &str| {
        md.get(key)
            .ok_or_else(|| format!("metadata {key} is missing"))
    };
    let arch = get("general.architecture")?
        .to_string()
        .map_err(|e| e.to_string())?
        .clone();
    if arch != "llama" {
        return Err(format!(
            "architecture is {arch:?}; only \"llama\" is supported"
        ));
    }
    let num = |key: &str| -> std::result::Result<usize, String> {
        let v = get(key)?;
        v.to_u32()
            .map(|x| x as usize)
            .or_else(|_| v.to_u64().map(|x| x as usize))
            .map_err(|e| format!("{key}: {e}"))
    };
    let float = |key: &str, default: f32| -> f32 {
        md.get(key).and_then(|v| v.to_f32().ok()).unwrap_or(default)
    };
    let q_heads = num("llama.attention.head_count")?;
    let kv_heads = md
        .get("llama.attention.head_count_kv")
        .map(|_| num("llama.attention.head_count_kv"))
        .transpose()?
        .unwrap_or(q_heads);
    let embedding = num("llama.embedding_length")?;
    let vocab = match md.get("tokenizer.ggml.tokens") {
        Some(v) => v.to_vec().map_err(|e| e.to_string())?.len(),
        None => return Err("metadata tokenizer.ggml.tokens is missing".into()),
    };
    if q_heads == 0 || kv_heads == 0 || q_heads % kv_heads != 0 || embedding % q_heads != 0 {
        return Err(format!(
            "{q_heads} query heads, {kv_heads} KV heads and width {embedding} do not fit together"
        ));
    }
    Ok(LlamaConfig {
        name: md
            .get("general.name")
            .and_then(|v| v.to_string().ok().cloned())
            .unwrap_or_else(|| "llama".into()),
        layers: num("llama.block_count")?,
        embedding,
        feed_forward: num("llama.feed_forward_length")?,
        q_heads,
        kv_heads,
        head_dim: embedding / q_heads,
        rope_base: float("llama.rope.freq_base", 10000.0),
        rms_eps: float("llama.attention.layer_norm_rms_epsilon", 1e-5) as f64,
        context: num("llama.context_length")?,
        vocab,
    })
}
