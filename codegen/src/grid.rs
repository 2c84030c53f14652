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

pub fn shipped() -> Vec<KernelConfig> {
    let mut out = Vec::new();
    for (head_dim, group) in SHAPES {
        for (k, v) in CODECS {
            let k: VqCodec = k.parse().expect("valid codec");
            let v: VqCodec = v.parse().expect("valid codec");
            for key_scoring in [KeyScoring::Dequantize, KeyScoring::Lut] {
                for stages in [1, 2] {
                    let c = KernelConfig {
                        key_scoring,
                        stages,
                        ..KernelConfig::default_for(head_dim, group, k, v)
                    };
                    // A lookup table for 4096-entry codebooks does not fit in shared memory.
                    if c.validate("sm_90").is_ok() {
                        out.push(c);
                    }
                }
            }
        }
    }
    out
}
