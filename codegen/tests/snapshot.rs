//! The generated source of four kernels, committed so that review shows what codegen changes.
//! Refresh with `UPDATE_SNAPSHOTS=1 cargo test -p vecinfer-codegen --test snapshot`.

use vecinfer_codegen::{KernelConfig, KeyScoring, emit};

fn assert_matches_snapshot(config: &KernelConfig, file: &str) {
    let source = emit(config, "sm_90").unwrap().source;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(file);
    if std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &source).unwrap();
    }
    let committed = std::fs::read_to_string(&path)
        .expect("snapshot file; run with UPDATE_SNAPSHOTS=1 to create it");
    assert!(
        committed == source,
        "generated source differs from {}; review and refresh with UPDATE_SNAPSHOTS=1",
        path.display()
    );
}

#[test]
fn llama_2bit_lut_kernel_matches_its_snapshot() {
    let config = KernelConfig {
        key_scoring: KeyScoring::Lut,
        ..KernelConfig::cuda_core_for(128, 4, "d4b8".parse().unwrap(), "d4b8".parse().unwrap())
    };
    assert_matches_snapshot(&config, "d128_g4_d4b8_d4b8_lut.cu");
}

#[test]
fn llama_2bit_default_mma_kernel_matches_its_snapshot() {
    let config =
        KernelConfig::default_for(128, 4, "d4b8".parse().unwrap(), "d4b8".parse().unwrap());
    assert_matches_snapshot(&config, "d128_g4_d4b8_d4b8_mma.cu");
}

#[test]
fn llama_2bit_paged_mma_kernel_matches_its_snapshot() {
    let config = KernelConfig {
        layout: vecinfer_codegen::CodeLayout::Paged { page_tokens: 64 },
        ..KernelConfig::default_for(128, 4, "d4b8".parse().unwrap(), "d4b8".parse().unwrap())
    };
    assert_matches_snapshot(&config, "d128_g4_d4b8_d4b8_mma_paged64.cu");
}

/// The engine's int8-window kernel at SmolLM2's shape: how the slot rows are read.
#[test]
fn smollm2_2bit_int8_window_kernel_matches_its_snapshot() {
    let config = KernelConfig {
        layout: vecinfer_codegen::CodeLayout::Paged { page_tokens: 64 },
        window: vecinfer_quant::WindowPrecision::Int8,
        ..KernelConfig::default_for(64, 3, "d4b8".parse().unwrap(), "d4b8".parse().unwrap())
    };
    assert_matches_snapshot(&config, "d64_g3_d4b8_d4b8_mma_paged64_win8.cu");
}
