//! The fused GPU kernel against the CPU reference, for every variant of the shipped grid and
//! more, on fresh random data. Runs where a GPU is; elsewhere it prints a notice and passes,
//! unless VECINFER_REQUIRE_GPU=1.
//!
//! Pass criterion: for every (sequence, query head), ‖gpu − cpu‖ / ‖cpu‖ ≤ 2e-3 in the output
//! dtype, and no output element left at its poison value.

use vecinfer_codegen::{KernelConfig, KeyScoring, OutputDtype, SplitPolicy, grid};
use vecinfer_quant::{CacheLayout, Granularity, KeyTransform};
use vecinfer_runtime::Gpu;
use vecinfer_runtime::verify::{RandomCase, worst_relative_error};

const TOLERANCE: f64 = 2e-3;

fn gpu_or_skip() -> Option<Gpu> {
    match Gpu::new(0) {
        Ok(g) => Some(g),
        Err(e) => {
            assert!(
                std::env::var("VECINFER_REQUIRE_GPU").map_or(true, |v| v != "1"),
                "a GPU is required: {e}"
            );
            eprintln!("SKIPPED (no GPU): {e}");
            None
        }
    }
}

fn run(gpu: &Gpu, cases: &[(KernelConfig, RandomCase)]) {
    let mut failures = Vec::new();
    for (config, case) in cases {
        let worst =
            worst_relative_error(gpu, config, case).unwrap_or_else(|e| panic!("{config}: {e}"));
        eprintln!(
            "{:<80} {:?} worst rel err {worst:.2e}",
            config.name(),
            case.lengths
        );
        if worst.is_nan() || worst > TOLERANCE {
            failures.push(format!("{config}: {worst:.3e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "variants over tolerance {TOLERANCE}:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_shipped_variant_matches_the_cpu_reference() {
    let Some(gpu) = gpu_or_skip() else { return };
    eprintln!("{} ({}, {} SMs)", gpu.name, gpu.arch, gpu.sm_count);
    let lengths = vec![1, 37, 700, 2100];
    let case = |seed| RandomCase {
        kv_heads: 2,
        lengths: lengths.clone(),
        layout: CacheLayout {
            sinks: 4,
            residual: 32,
        },
        seed,
    };
    let cases: Vec<_> = grid::shipped()
        .into_iter()
        .enumerate()
        .map(|(i, c)| (c, case(100 + i as u64)))
        .collect();
    run(&gpu, &cases);
}

#[test]
fn every_axis_matches_the_cpu_reference() {
    let Some(gpu) = gpu_or_skip() else { return };
    let base = KernelConfig {
        key_scoring: KeyScoring::Lut,
        ..KernelConfig::default_for(64, 3, "d4b8".parse().unwrap(), "d4b8".parse().unwrap())
    };
    let variants = [
        KernelConfig {
            output: OutputDtype::Bf16,
            ..base
        },
        KernelConfig {
            granularity: Granularity::Head,
            ..base
        },
        KernelConfig {
            transform: KeyTransform::NONE,
            ..base
        },
        KernelConfig {
            transform: KeyTransform::SMOOTH,
            ..base
        },
        KernelConfig {
            transform: KeyTransform::HADAMARD,
            ..base
        },
        KernelConfig {
            split: SplitPolicy::Fixed(1),
            ..base
        },
        KernelConfig {
            split: SplitPolicy::Fixed(7),
            ..base
        },
        KernelConfig { stages: 3, ..base },
        KernelConfig { stages: 4, ..base },
        KernelConfig {
            dims_per_lane: 16,
            ..base
        },
        KernelConfig {
            dims_per_lane: 32,
            key_scoring: KeyScoring::Dequantize,
            ..base
        },
        KernelConfig {
            warps: 8,
            tile_tokens: 256,
            ..base
        },
        KernelConfig {
            tile_tokens: 64,
            warps: 2,
            ..base
        },
        KernelConfig { group: 1, ..base },
        KernelConfig {
            group: 8,
            key_scoring: KeyScoring::Dequantize,
            ..base
        },
        KernelConfig {
            head_dim: 256,
            key_scoring: KeyScoring::Dequantize,
            ..base
        },
        KernelConfig {
            key_codec: "d8b10".parse().unwrap(),
            value_codec: "d4b12".parse().unwrap(),
            key_scoring: KeyScoring::Dequantize,
            ..base
        },
    ];
    let cases: Vec<_> = variants
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            (
                c,
                RandomCase {
                    kv_heads: 2,
                    lengths: vec![5, 333, 1200],
                    layout: CacheLayout::default(),
                    seed: 200 + i as u64,
                },
            )
        })
        .collect();
    run(&gpu, &cases);
}

#[test]
fn llama_shape_matches_the_cpu_reference() {
    let Some(gpu) = gpu_or_skip() else { return };
    // Llama-3.1-8B: 32 query heads, 8 KV heads, head dim 128.
    let cases: Vec<_> = grid::CODECS
        .iter()
        .map(|(k, v)| {
            let config = KernelConfig::default_for(128, 4, k.parse().unwrap(), v.parse().unwrap());
            (
                config,
                RandomCase {
                    kv_heads: 8,
                    lengths: vec![4096, 1000],
                    layout: CacheLayout::default(),
                    seed: 7,
                },
            )
        })
        .collect();
    run(&gpu, &cases);
}
