//! The model's weights in the engine's layout, on the host (fp16 bits) and on the GPU.
//!
//! Projections stay row-major `[out, in]` as the GGUF stores them (cuBLAS reads them
//! transposed, see `blas::LinearShape`); Q, K and V are stacked into one `[(Hq + 2 Hk) D, E]`
//! matrix and gate and up into one `[2 F, E]`, so a layer is four GEMMs. Norm weights stay f32.
//! The token embedding doubles as the output head when the model ties them (SmolLM2).

use crate::error::{EngineError, Result};
use cudarc::driver::{CudaSlice, CudaStream};
use half::f16;
use std::path::Path;
use std::sync::Arc;
use vecinfer_model::{GgufWeights, LlamaConfig};

/// One layer, fp16 bits except the norms.
#[derive(Clone, Debug, PartialEq)]
pub struct HostLayer {
    pub attn_norm: Vec<f32>,
    /// `[(Hq + 2 Hk) D, E]`: Q rows, then K, then V.
    pub qkv: Vec<u16>,
    /// `[E, Hq D]`.
    pub out: Vec<u16>,
    pub ffn_norm: Vec<f32>,
    /// `[2 F, E]`: gate rows, then up.
    pub gate_up: Vec<u16>,
    /// `[E, F]`.
    pub down: Vec<u16>,
}

pub fn to_f16_bits(values: &[f32]) -> Vec<u16> {
    values.iter().map(|&v| f16::from_f32(v).to_bits()).collect()
}

/// Where weights come from: a GGUF file, or seeded noise with a given config (benchmarks:
/// speed does not depend on the values).
pub enum WeightSource<'a> {
    Gguf(&'a Path),
    Random { config: LlamaConfig, seed: u64 },
}

/// Reads layers one at a time, so the f32 copies never all sit in memory at once.
pub struct WeightReader {
    inner: Reader,
    config: LlamaConfig,
}

enum Reader {
    Gguf(Box<GgufWeights<'static>>),
    Random(u64),
}

/// Noise in [-scale, scale) from a seed and a stream index (splitmix64).
pub fn noise(seed: u64, stream: u64, n: usize, scale: f32) -> Vec<f32> {
    let mut state = seed ^ stream.wrapping_mul(0x9e3779b97f4a7c15);
    (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9e3779b97f4a7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
            z ^= z >> 31;
            ((z >> 40) as f32 / (1u64 << 23) as f32 - 1.0) * scale
        })
        .collect()
}

impl WeightReader {
    pub fn open(source: WeightSource<'_>) -> Result<Self> {
        Ok(match source {
            WeightSource::Gguf(path) => {
                let w = GgufWeights::open(path)?;
                Self {
                    config: w.config().clone(),
                    inner: Reader::Gguf(Box::new(w)),
                }
            }
            WeightSource::Random { config, seed } => Self {
                config,
                inner: Reader::Random(seed),
            },
        })
    }

    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    /// Tensor `name` (row-major f32) of `dims`; noise of the same shape for random weights
    /// (norm weights near 1, projections scaled by 1/sqrt(fan-in)).
    fn tensor(&mut self, name: &str, dims: &[usize]) -> Result<Vec<f32>> {
        match &mut self.inner {
            Reader::Gguf(w) => Ok(w.tensor_values(name, dims)?),
            Reader::Random(seed) => {
                let n: usize = dims.iter().product();
                let stream = name.bytes().fold(0u64, |h, b| {
                    h.wrapping_mul(0x100000001b3).wrapping_add(b as u64)
                });
                if dims.len() == 1 {
                    Ok(noise(*seed, stream, n, 0.1)
                        .into_iter()
                        .map(|v| 1.0 + v)
                        .collect())
                } else {
                    let fan_in = *dims.last().expect("2-d");
                    Ok(noise(*seed, stream, n, 1.0 / (fan_in as f32).sqrt()))
                }
            }
        }
    }

    /// The token embedding `[vocab, E]` in fp16.
    pub fn embedding(&mut self) -> Result<Vec<u16>> {
        let c = self.config.clone();
        Ok(to_f16_bits(
            &self.tensor("token_embd.weight", &[c.vocab, c.embedding])?,
        ))
    }

    /// The output head `[vocab, E]` in fp16, or `None` when it is the embedding (tied).
    pub fn output_head(&mut self) -> Result<Option<Vec<u16>>> {
        let c = self.config.clone();
        match &self.inner {
            Reader::Gguf(w) if w.contains("output.weight") => Ok(Some(to_f16_bits(
                &self.tensor("output.weight", &[c.vocab, c.embedding])?,
            ))),
            _ => Ok(None),
        }
    }

    pub fn final_norm(&mut self) -> Result<Vec<f32>> {
        let e = self.config.embedding;
        self.tensor("output_norm.weight", &[e])
    }

    pub fn layer(&mut self, i: usize) -> Result<HostLayer> {
        let c = self.config.clone();
        let (e, d, f) = (c.embedding, c.head_dim, c.feed_forward);
        let name = |s: &str| format!("blk.{i}.{s}.weight");
        let mut qkv = self.tensor(&name("attn_q"), &[c.q_heads * d, e])?;
        qkv.extend(self.tensor(&name("attn_k"), &[c.kv_heads * d, e])?);
        qkv.extend(self.tensor(&name("attn_v"), &[c.kv_heads * d, e])?);
        let mut gate_up = self.tensor(&name("ffn_gate"), &[f, e])?;
        gate_up.extend(self.tensor(&name("ffn_up"), &[f, e])?);
        Ok(HostLayer {
            attn_norm: self.tensor(&name("attn_norm"), &[e])?,
            qkv: to_f16_bits(&qkv),
            out: to_f16_bits(&self.tensor(&name("attn_output"), &[e, c.q_heads * d])?),
            ffn_norm: self.tensor(&name("ffn_norm"), &[e])?,
            gate_up: to_f16_bits(&gate_up),
            down: to_f16_bits(&self.tensor(&name("ffn_down"), &[e, f])?),
        })
    }
}

pub struct DeviceLayer {
    pub attn_norm: CudaSlice<f32>,
    pub qkv: CudaSlice<u16>,
    pub out: CudaSlice<u16>,
    pub ffn_norm: CudaSlice<f32>,
    pub gate_up: CudaSlice<u16>,
    pub down: CudaSlice<u16>,
}

pub struct DeviceWeights {
    pub embedding: CudaSlice<u16>,
    /// `None`: the output head is the embedding.
    pub output_head: Option<CudaSlice<u16>>,
    pub final_norm: CudaSlice<f32>,
    pub layers: Vec<DeviceLayer>,
}

impl DeviceWeights {
    /// Reads, converts and uploads layer by layer.
    pub fn upload(reader: &mut WeightReader, stream: &Arc<CudaStream>) -> Result<Self> {
        let layers = (0..reader.config().layers)
            .map(|i| {
                let h = reader.layer(i)?;
                Ok(DeviceLayer {
                    attn_norm: stream.clone_htod(&h.attn_norm)?,
                    qkv: stream.clone_htod(&h.qkv)?,
                    out: stream.clone_htod(&h.out)?,
                    ffn_norm: stream.clone_htod(&h.ffn_norm)?,
                    gate_up: stream.clone_htod(&h.gate_up)?,
                    down: stream.clone_htod(&h.down)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            embedding: stream.clone_htod(&reader.embedding()?)?,
            output_head: reader
                .output_head()?
                .map(|h| stream.clone_htod(&h))
                .transpose()?,
            final_norm: stream.clone_htod(&reader.final_norm()?)?,
            layers,
        })
    }

    pub fn output(&self) -> &CudaSlice<u16> {
        self.output_head.as_ref().unwrap_or(&self.embedding)
    }

    /// Bytes a decode step reads: every projection, the norms and the output head (the
    /// embedding gather reads only a row per sequence).
    pub fn bytes_per_step(&self) -> usize {
        let layer: usize = self
            .layers
            .iter()
            .map(|l| {
                2 * (l.qkv.len() + l.out.len() + l.gate_up.len() + l.down.len())
                    + 4 * (l.attn_norm.len() + l.ffn_norm.len())
            })
            .sum();
        layer + 2 * self.output().len() + 4 * self.final_norm.len()
    }

    pub fn bytes(&self) -> usize {
        self.bytes_per_step()
            + if self.output_head.is_some() {
                2 * self.embedding.len()
            } else {
                0
            }
    }
}

pub(crate) fn check_config(c: &LlamaConfig) -> Result<()> {
    if !c.q_heads.is_multiple_of(c.kv_heads) || c.head_dim * c.q_heads != c.embedding {
        return Err(EngineError::Invalid(format!(
            "{} query heads, {} KV heads of dim {} and width {} do not fit together",
            c.q_heads, c.kv_heads, c.head_dim, c.embedding
        )));
    }
    Ok(())
}
