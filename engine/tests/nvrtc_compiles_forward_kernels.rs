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

/// The skinny projections keep three 256-thread blocks per SM without spilling: with fewer,
/// the blocks of the step's next kernels arrive late and load their weights after their wait
/// (9-12% of SmolLM2's batch-1 step on an H100, bench/results/model-s13), which no CPU test
/// would notice. 65,536 registers per SM, allocated 8 at a time per thread: at most 80.
#[test]
fn skinny_projections_keep_three_blocks_per_sm() {
    if !nvrtc_or_skip() {
        return;
    }
    for ((head_dim, group), arch) in [(64, 3), (128, 4)]
        .into_iter()
        .flat_map(|shape| ["sm_80", "sm_90"].map(|arch| (shape, arch)))
    {
        let k = emit_forward(&ForwardConfig::new(head_dim, group)).unwrap();
        let usage = vecinfer_runtime::resources::kernel_resources(&k.source, arch).unwrap();
        for entry in [
            "skinny_qkv_rope",
            "skinny_residual",
            "skinny_gate_up_silu",
            "skinny_logits",
        ] {
            let u = usage
                .iter()
                .find(|u| u.entry == entry)
                .unwrap_or_else(|| panic!("no resources for {entry} in {usage:?}"));
            // `__launch_bounds__` makes ptxas fit 80 registers by spilling: the stack and the
            // spills are what moves when the kernels grow.
            assert!(
                u.registers <= 80 && u.spill_store_bytes == 0 && u.stack_bytes == 0,
                "{entry} (d{head_dim} g{group}, {arch}): {} registers, {} bytes stack, {} bytes spilled; three 256-thread blocks per SM need <= 80 registers and no stack or spills",
                u.registers,
                u.stack_bytes,
                u.spill_store_bytes
            );
        }
    }
}
