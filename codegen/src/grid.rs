//! The shipped config grid: every variant here is compiled with NVRTC in CI and checked
//! against the CPU reference on the GPU.

use crate::config::{KernelConfig, KeyScoring};
use vecinfer_quant::VqCodec;

/// (head dim, GQA group) of the models the project measures: SmolLM2-135M and Llama-3.1-8B.
pub const SHAPES: [(usize, usize); 2] = [(64, 3), (128, 4)];

/// (K, V) codecs: 4, 2, 1.5 and 1.25 bits per element.
pub const CODECS: [(&str, &str); 4] = [
    ("d2b8", "d2b8"),
    ("d4b8", "d4b8"),
    ("d8b12", "d8b12"),
    ("d8b12", "d8b8"),
];

/// Per shape and codec pair: the CUDA-core kernels (dequantize and LUT, 1 and 2 stages) and
/// the tensor-core kernel (the default; staged with 1 and 2 stages; one codebook copy).
pub fn shipped() -> Vec<KernelConfig> {
    let mut out = Vec::new();
    for (head_dim, group) in SHAPES {
        for (k, v) in CODECS {
            let k: VqCodec = k.parse().expect("valid codec");
            let v: VqCodec = v.parse().expect("valid codec");
            let cuda_core = KernelConfig::cuda_core_for(head_dim, group, k, v);
            let mma = KernelConfig::default_for(head_dim, group, k, v);
            let candidates = [
                cuda_core,
                KernelConfig {
                    stages: 1,
                    ..cuda_core
                },
                KernelConfig {
                    key_scoring: KeyScoring::Lut,
                    ..cuda_core
                },
                KernelConfig {
                    key_scoring: KeyScoring::Lut,
                    stages: 1,
                    ..cuda_core
                },
                mma,
                // The staged pipeline at 1 and 2 stages (the default is direct for 8-bit codes),
                // and one codebook copy; unbounded (the default's bound fits its own registers).
                KernelConfig {
                    direct_codes: false,
                    stages: 1,
                    min_blocks_per_sm: 0,
                    ..mma
                },
                KernelConfig {
                    direct_codes: false,
                    stages: 2,
                    min_blocks_per_sm: 0,
                    ..mma
                },
                KernelConfig {
                    codebook_replicas: 1,
                    min_blocks_per_sm: 0,
                    ..mma
                },
            ];
            // A lookup table for 4096-entry codebooks does not fit in shared memory, direct
            // code loads need 8-bit codes; with one codebook copy a candidate may repeat the
            // default.
            for c in candidates {
                if c.validate("sm_90").is_ok() && !out.contains(&c) {
                    out.push(c);
                }
            }
        }
    }
    out
}
