//! `KernelConfig`: every knob of the fused decode-attention kernel, and its validation.

use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;
use vecinfer_quant::{Granularity, KeyTransform, VqCodec};

/// Shared memory a block may use on the GPUs this project targets (sm_80 and sm_90 allow
/// 227 KB with the opt-in attribute; sm_86/sm_89 allow 99 KB).
pub fn shared_memory_limit(arch: &str) -> usize {
    match arch {
        "sm_86" | "sm_89" => 99 * 1024,
        _ => 227 * 1024,
    }
}

/// How a coded key is scored against the query.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyScoring {
    /// A table `LUT[g][m][j] = q'_{g,m} · C[j]` built once per block; a score is `D/d` lookups.
    Lut,
    /// Each sub-vector's centroid is read from shared memory and dotted with the query.
    Dequantize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputDtype {
    F16,
    Bf16,
}

/// How many blocks share one sequence's tokens (flash-decoding split-KV).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitPolicy {
    /// Exactly this many splits.
    Fixed(u32),
    /// Enough splits for about two waves of blocks over the SMs, given batch × KV heads.
    Auto,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KernelConfig {
    pub head_dim: usize,
    /// Query heads per KV head (GQA group).
    pub group: usize,
    pub key_codec: VqCodec,
    pub value_codec: VqCodec,
    pub granularity: Granularity,
    pub transform: KeyTransform,
    /// Tokens per tile staged in shared memory.
    pub tile_tokens: usize,
    pub warps: usize,
    /// Tiles in flight in the `cp.async` pipeline (1 = load, wait, compute).
    pub stages: usize,
    /// Head dimensions each lane owns when scoring and accumulating a token: `head_dim /
    /// dims_per_lane` lanes share a token. More dims per lane means fewer shuffles per token
    /// and more registers (queries and accumulators: `2 × group × dims_per_lane` floats).
    pub dims_per_lane: usize,
    pub split: SplitPolicy,
    pub key_scoring: KeyScoring,
    pub output: OutputDtype,
}

#[derive(Debug, Error, PartialEq)]
pub enum ConfigError {
    #[error("head dim {0} is not supported: valid head dims are 64, 128 and 256")]
    HeadDim(usize),
    #[error("GQA group {0} is out of range: valid groups are 1 to 8")]
    Group(usize),
    #[error("warps per block {0} is out of range: valid values are 1, 2, 4 and 8")]
    Warps(usize),
    #[error(
        "tile of {tile} tokens: it must be a multiple of 16 between 16 and 512 and at least the {threads} threads of the block"
    )]
    Tile { tile: usize, threads: usize },
    #[error("pipeline depth {0} is out of range: valid depths are 1 to 4")]
    Stages(usize),
    #[error(
        "{dims} dims per lane for head dim {head_dim}: valid values are 8, 16 or 32, dividing the head dim into at most 32 lanes, each a multiple of the codecs' sub-vector dims ({sub_dims})"
    )]
    DimsPerLane {
        dims: usize,
        head_dim: usize,
        sub_dims: String,
    },
    #[error("split count {0} is out of range: valid fixed splits are 1 to 1024")]
    Split(u32),
    #[error("{codec} does not divide head dim {head_dim}")]
    Codec { codec: VqCodec, head_dim: usize },
    #[error("shared memory {needed} KB > {limit} KB on {arch} ({detail})")]
    SharedMemory {
        needed: usize,
        limit: usize,
        arch: String,
        detail: String,
    },
}

impl KernelConfig {
    /// A config that works for any valid shape; the tuner searches around it.
    pub fn default_for(
        head_dim: usize,
        group: usize,
        key_codec: VqCodec,
        value_codec: VqCodec,
    ) -> Self {
        Self {
            head_dim,
            group,
            key_codec,
            value_codec,
            granularity: Granularity::Layer,
            transform: KeyTransform::BOTH,
            tile_tokens: 128,
            warps: 4,
            stages: 2,
            // 8 measured faster than 16 for groups 3-4 on the H100 (bench/results/h100/sweep-v2).
            dims_per_lane: 8,
            split: SplitPolicy::Auto,
            key_scoring: KeyScoring::Dequantize,
            output: OutputDtype::F16,
        }
    }

    pub fn threads(&self) -> usize {
        self.warps * 32
    }

    pub fn key_row_bytes(&self) -> usize {
        self.key_codec.packed_bytes(self.head_dim).unwrap_or(0)
    }

    pub fn value_row_bytes(&self) -> usize {
        self.value_codec.packed_bytes(self.head_dim).unwrap_or(0)
    }

    /// Checks every axis and the shared-memory budget on `arch`.
    pub fn validate(&self, arch: &str) -> Result<(), ConfigError> {
        if ![64, 128, 256].contains(&self.head_dim) {
            return Err(ConfigError::HeadDim(self.head_dim));
        }
        if !(1..=8).contains(&self.group) {
            return Err(ConfigError::Group(self.group));
        }
        if ![1, 2, 4, 8].contains(&self.warps) {
            return Err(ConfigError::Warps(self.warps));
        }
        if !self.tile_tokens.is_multiple_of(16)
            || !(16..=512).contains(&self.tile_tokens)
            || self.tile_tokens < self.threads()
        {
            return Err(ConfigError::Tile {
                tile: self.tile_tokens,
                threads: self.threads(),
            });
        }
        if !(1..=4).contains(&self.stages) {
            return Err(ConfigError::Stages(self.stages));
        }
        if let SplitPolicy::Fixed(n) = self.split
            && !(1..=1024).contains(&n)
        {
            return Err(ConfigError::Split(n));
        }
        for codec in [self.key_codec, self.value_codec] {
            if codec.codes_per_vector(self.head_dim).is_err() {
                return Err(ConfigError::Codec {
                    codec,
                    head_dim: self.head_dim,
                });
            }
        }
        let layout = crate::SharedLayout::of(self);
        let limit = shared_memory_limit(arch);
        if layout.total > limit {
            return Err(ConfigError::SharedMemory {
                needed: layout.total.div_ceil(1024),
                limit: limit / 1024,
                arch: arch.to_string(),
                detail: layout.describe(),
            });
        }
        Ok(())
    }

    /// A short name, unique per config, used in entry-point names and file names.
    pub fn name(&self) -> String {
        let split = match self.split {
            SplitPolicy::Fixed(n) => format!("s{n}"),
            SplitPolicy::Auto => "sauto".into(),
        };
        format!(
            "d{}_g{}_k{}_v{}_{}_{}_t{}_w{}_p{}_l{}_{}_{}_{}",
            self.head_dim,
            self.group,
            self.key_codec,
            self.value_codec,
            self.granularity,
            self.transform.name(),
            self.tile_tokens,
            self.warps,
            self.stages,
            self.dims_per_lane,
            split,
            match self.key_scoring {
                KeyScoring::Lut => "lut",
                KeyScoring::Dequantize => "deq",
            },
            match self.output {
                OutputDtype::F16 => "f16",
                OutputDtype::Bf16 => "bf16",
            }
        )
    }
}

impl fmt::Display for KernelConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}
