//! Every forward kernel compiles with NVRTC for sm_80 and sm_90, for the shapes the project
//! runs and the tilings `decode-bench --tune-fp16` tries (no GPU needed). Skipped with a notice
//! when libnvrtc is absent, unless VECINFER_REQUIRE_NVRTC=1 (CI sets it).

use vecinfer_codegen::{FORWARD_ENTRIES, ForwardConfig, emit_forward};
use vecinfer_runtime::{compile, libraries::ensure_nvrtc};

fn nvrtc_or_skip() -> bool {
    match ensure_nvrtc() {
        Ok(()) => true,
        Err(e) => {
            assert!(
                std::env::var("VECINFER_REQUIRE_NVRTC").map_or(true, |v| v != "1"),
                "NVRTC is required: {e}"
            );
            eprintln!("SKIPPED: {e}");
            false
        }
    }
}

#[test]
fn every_forward_kernel_compiles_for_sm80_and_sm90() {
    if !nvrtc_or_skip() {
        return;
    }
    // SmolLM2 (64, 3), Llama-3.1-8B (128, 4), plain multi-head and a wide head.
    let shapes = [(64, 3), (128, 4), (128, 1), (256, 2)];
    let mut configs: Vec<ForwardConfig> = shapes
        .iter()
        .map(|&(d, g)| ForwardConfig::new(d, g))
        .collect();
    for warps in [2, 4, 8] {
        for unroll in [2, 4, 8] {
            configs.push(ForwardConfig {
                decode_warps: warps,
                decode_unroll: unroll,
                ..ForwardConfig::new(64, 3)
            });
        }
    }
    for config in configs {
        let k = emit_forward(&config).unwrap_or_else(|e| panic!("{}: {e}", config.name()));
        for entry in FORWARD_ENTRIES {
            assert!(
                k.source.contains(entry),
                "{}: {entry} missing",
                config.name()
            );
        }
        for arch in ["sm_80", "sm_90"] {
            compile(&k.source, arch, &config.name())
                .unwrap_or_else(|e| panic!("{} for {arch}: {e}", config.name()));
        }
    }
}
