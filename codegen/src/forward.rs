//! The forward pass's own kernels: embedding gather, residual add + RMSNorm, RoPE with the
//! head split, SiLU·mul, log-softmax NLL of the target, argmax, the teacher-forcing helpers,
//! the FP16 KV cache's append, split-K decode attention (with its merge) and causal prefill
//! attention, and the skinny projections of small decode batches with those stages fused in.
//! The CUDA is static text (`cuda/forward.cuh`, `cuda/qkv_slots.cuh`, `cuda/skinny.cuh`); this emitter only
//! splices in the shape (head dim, GQA group) and the attention kernels' tiling.

use thiserror::Error;

const FORWARD_CUH: &str = include_str!("cuda/forward.cuh");
const QKV_SLOTS_CUH: &str = include_str!("cuda/qkv_slots.cuh");
const SKINNY_CUH: &str = include_str!("cuda/skinny.cuh");

/// The most rows (sequences of a decode step) the skinny projections take in one launch; a
/// larger batch goes to cuBLAS.
pub const SKINNY_ROWS: usize = 8;
/// Threads of `argmax_rows`'s one block per row.
pub const ARGMAX_THREADS: u32 = 1024;

/// Entry points of the emitted module, in the order they appear.
pub const FORWARD_ENTRIES: [&str; 17] = [
    "embed_tokens",
    "add_rms_norm",
    "rope_qkv",
    "silu_mul",
    "token_nll",
    "argmax_rows",
    "gather_step_tokens",
    "advance_positions",
    "kv_append_fp16",
    "decode_attention_fp16",
    "decode_merge",
    "prefill_attention_fp16",
    "fill_random",
    "skinny_qkv_rope",
    "skinny_residual",
    "skinny_gate_up_silu",
    "skinny_logits",
];

/// What the forward kernels are specialised for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ForwardConfig {
    pub head_dim: usize,
    /// Query heads per KV head (GQA group).
    pub group: usize,
    /// Warps per block of the FP16 decode attention.
    pub decode_warps: usize,
    /// 16-byte K and V loads each lane has in flight in the FP16 decode attention.
    pub decode_unroll: usize,
    /// Warps (one query each) per block of the FP16 prefill attention.
    pub prefill_warps: usize,
}

impl ForwardConfig {
    /// The tiling that keeps enough bytes in flight for HBM on an H100 (4 warps × 32 lanes ×
    /// 4 × 32 bytes per block, several blocks per SM).
    pub fn new(head_dim: usize, group: usize) -> Self {
        Self {
            head_dim,
            group,
            decode_warps: 4,
            decode_unroll: 4,
            prefill_warps: 4,
        }
    }

    /// Threads per block of the decode attention.
    pub fn decode_threads(&self) -> u32 {
        (self.decode_warps * 32) as u32
    }

    pub fn prefill_threads(&self) -> u32 {
        (self.prefill_warps * 32) as u32
    }

    /// Tokens one block of the decode attention covers per loop iteration: split sizes are
    /// rounded to it.
    pub fn decode_tokens_per_iteration(&self) -> usize {
        self.decode_warps * (32 / (self.head_dim / 8)) * self.decode_unroll
    }

    /// Static shared memory of the decode attention's warp merge.
    pub fn decode_shared_bytes(&self) -> usize {
        self.decode_warps * self.group * (self.head_dim + 2) * 4
    }

    pub fn validate(&self) -> Result<(), ForwardError> {
        if ![64, 128, 256].contains(&self.head_dim) {
            return Err(ForwardError::HeadDim(self.head_dim));
        }
        if !(1..=8).contains(&self.group) {
            return Err(ForwardError::Group(self.group));
        }
        for (what, value) in [
            ("decode warps", self.decode_warps),
            ("decode unroll", self.decode_unroll),
            ("prefill warps", self.prefill_warps),
        ] {
            if ![1, 2, 4, 8].contains(&value) {
                return Err(ForwardError::Tiling { what, value });
            }
        }
        if self.decode_shared_bytes() > 48 * 1024 {
            return Err(ForwardError::SharedMemory(self.decode_shared_bytes()));
        }
        Ok(())
    }

    /// A short name, unique per config.
    pub fn name(&self) -> String {
        format!(
            "d{}_g{}_w{}_u{}_p{}",
            self.head_dim, self.group, self.decode_warps, self.decode_unroll, self.prefill_warps
        )
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ForwardError {
    #[error(
        "head dim {0} is not supported by the forward kernels: valid head dims are 64, 128 and 256"
    )]
    HeadDim(usize),
    #[error("GQA group {0} is out of range: valid groups are 1 to 8")]
    Group(usize),
    #[error("{what} {value}: valid values are 1, 2, 4 and 8")]
    Tiling { what: &'static str, value: usize },
    #[error(
        "the decode attention's warp merge needs {0} bytes of shared memory, more than 48 KB: use fewer decode warps"
    )]
    SharedMemory(usize),
}

/// The module's source with the shape it was made for.
#[derive(Clone, Debug)]
pub struct EmittedForward {
    pub config: ForwardConfig,
    pub source: String,
}

/// Validates `config` and emits the module.
pub fn emit_forward(config: &ForwardConfig) -> Result<EmittedForward, ForwardError> {
    config.validate()?;
    let scale = 1.0f32 / (config.head_dim as f32).sqrt();
    let header = format!(
        "// Llama forward kernels and the FP16 KV cache, generated by vecinfer-codegen {}. Do not edit.\n\
         // config: {}\n\n\
         static constexpr int HEAD_DIM = {};\n\
         static constexpr int GROUP = {};\n\
         static constexpr int DECODE_WARPS = {};\n\
         static constexpr int DECODE_UNROLL = {};\n\
         static constexpr int PREFILL_WARPS = {};\n\
         static constexpr int SKINNY_ROWS = {};\n\
         static constexpr int ARGMAX_THREADS = {};\n\
         // 1/sqrt(HEAD_DIM) as the CPU rounds it.\n\
         #define SOFTMAX_SCALE (__int_as_float({:#010x}))\n\n",
        env!("CARGO_PKG_VERSION"),
        serde_json::to_string(config).expect("configs serialise"),
        config.head_dim,
        config.group,
        config.decode_warps,
        config.decode_unroll,
        config.prefill_warps,
        SKINNY_ROWS,
        ARGMAX_THREADS,
        scale.to_bits(),
    );
    // The FP16 decode attention's splits merge like the VQ kernel's: one shared body.
    let merge = crate::blocks::output_conversion(crate::OutputDtype::F16)
        + &crate::blocks::merge_kernel("decode_merge", crate::blocks::MergeRows::Uniform);
    Ok(EmittedForward {
        config: *config,
        source: header
            + crate::blocks::DEPENDENT_LAUNCH
            + "\n"
            + FORWARD_CUH
            + "\n"
            + crate::blocks::INT8_ROWS
            + "\n"
            + QKV_SLOTS_CUH
            + "\n"
            + &merge
            + "\n"
            + SKINNY_CUH,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emits_every_entry_without_headers() {
        let k = emit_forward(&ForwardConfig::new(64, 3)).unwrap();
        assert!(!k.source.contains("#include"));
        for entry in FORWARD_ENTRIES {
            assert!(
                k.source.contains(&format!("void {entry}("))
                    || k.source.contains(&format!("\n{entry}("))
                    || k.source.contains(&format!(") {entry}(")),
                "missing {entry}"
            );
        }
        assert!(k.source.contains("static constexpr int HEAD_DIM = 64;"));
        assert!(k.source.contains("static constexpr int GROUP = 3;"));
        // 1/8 exactly.
        assert!(k.source.contains("__int_as_float(0x3e000000)"));
    }

    #[test]
    fn shape_and_tiling_change_the_source() {
        let base = ForwardConfig::new(64, 3);
        let source = |c: ForwardConfig| emit_forward(&c).unwrap().source;
        for other in [
            ForwardConfig::new(128, 4),
            ForwardConfig {
                decode_warps: 8,
                ..base
            },
            ForwardConfig {
                decode_unroll: 2,
                ..base
            },
            ForwardConfig {
                prefill_warps: 8,
                ..base
            },
        ] {
            assert_ne!(source(other), source(base), "{}", other.name());
        }
    }

    #[test]
    fn validation_names_the_numbers() {
        let base = ForwardConfig::new(64, 3);
        let err = |c: ForwardConfig| emit_forward(&c).unwrap_err().to_string();
        assert!(
            err(ForwardConfig {
                head_dim: 96,
                ..base
            })
            .contains("64, 128 and 256")
        );
        assert!(err(ForwardConfig { group: 9, ..base }).contains("1 to 8"));
        assert!(
            err(ForwardConfig {
                decode_unroll: 3,
                ..base
            })
            .contains("decode unroll 3")
        );
        let big = ForwardConfig {
            head_dim: 256,
            group: 8,
            decode_warps: 8,
            ..base
        };
        assert!(err(big).contains("48 KB"));
        assert_eq!(base.decode_tokens_per_iteration(), 4 * 4 * 4);
        assert_eq!(
            ForwardConfig::new(128, 4).decode_tokens_per_iteration(),
            4 * 2 * 4
        );
    }
}
