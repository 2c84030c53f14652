//! The fused GPU kernel against the CPU reference, for every variant of the shipped grid and
//! more, on fresh random data. Runs where a GPU is; elsewhere it prints a notice and passes,
//! unless VECINFER_REQUIRE_GPU=1.
//!
//! Pass criterion: for every (sequence, query head), ‖gpu − cpu‖ / ‖cpu‖ ≤ 2e-3 in the output
//! dtype (bf16 output: one bf16 step, 2⁻⁸), and no output element left at its poison value.

use vecinfer_codegen::{
    BookFormat, CodeLayout, KernelConfig, KeyScoring, OutputDtype, SplitPolicy, grid,
};
use vecinfer_quant::{CacheLayout, Granularity, KeyTransform, WindowPrecision};
use vecinfer_runtime::verify::{RandomCase, VerifyCase, worst_relative_error};
use vecinfer_runtime::{Gpu, SplitPlan, VqAttention, Workspace};

use vecinfer_tests::gpu_or_skip;

const TOLERANCE: f64 = 2e-3;

/// The bound for `config`'s output dtype. The comparison is in that dtype, and bf16 keeps 8
/// significant bits: where the kernel's f32 sum and the reference's differ in their last bits,
/// the two round one bf16 step apart (2⁻⁸ relative), so an element's error can be 3.9e-3 from
/// rounding alone (2.7e-3 over a head was measured on an H200, seed-dependent: session 36).
fn tolerance(config: &KernelConfig) -> f64 {
    match config.output {
        OutputDtype::F16 => TOLERANCE,
        OutputDtype::Bf16 => 2f64.powi(-8),
    }
}

/// NVRTC-compiles every case's kernel on all cores first (the module cache keeps them), so
/// the checks below only load them.
fn precompile(gpu: &Gpu, cases: &[(KernelConfig, RandomCase)]) {
    let threads = std::thread::available_parallelism().map_or(4, |n| n.get());
    let chunk = cases.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        for part in cases.chunks(chunk) {
            scope.spawn(move || {
                for (config, _) in part {
                    let k = vecinfer_codegen::emit(config, gpu.arch).unwrap();
                    vecinfer_runtime::compile(&k.source, gpu.arch, &k.attention_entry).unwrap();
                }
            });
        }
    });
}

fn run(gpu: &Gpu, cases: &[(KernelConfig, RandomCase)]) {
    precompile(gpu, cases);
    let mut failures = Vec::new();
    for (config, case) in cases {
        let worst =
            worst_relative_error(gpu, config, case).unwrap_or_else(|e| panic!("{config}: {e}"));
        eprintln!(
            "{:<80} {:?} worst rel err {worst:.2e}",
            config.name(),
            case.lengths
        );
        if worst.is_nan() || worst > tolerance(config) {
            failures.push(format!("{config}: {worst:.3e}"));
        }
    }
    assert_within_tolerance(&failures);
}

/// Fails with every variant over the tolerance, one per line.
fn assert_within_tolerance(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "variants over tolerance ({TOLERANCE}, bf16 output 2^-8):\n{}",
        failures.join("\n")
    );
}

#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release -- --ignored with VECINFER_REQUIRE_GPU=1"]
fn every_shipped_variant_matches_the_cpu_reference() {
    let Some(gpu) = gpu_or_skip() else { return };
    eprintln!("{} ({}, {} SMs)", gpu.name, gpu.arch, gpu.sm_count);
    let lengths = vec![0, 1, 37, 700, 2100];
    let case = |seed| RandomCase {
        kv_heads: 2,
        lengths: lengths.clone(),
        layout: CacheLayout {
            sinks: 4,
            residual: 32,
            ..CacheLayout::default()
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

/// Every shipped variant again with its code rows in pages handed out in a random order (16
/// and 128 tokens), and the default kernel at every page size.
#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release -- --ignored with VECINFER_REQUIRE_GPU=1"]
fn every_shipped_variant_matches_the_cpu_reference_in_pages() {
    let Some(gpu) = gpu_or_skip() else { return };
    let case = |seed| RandomCase {
        kv_heads: 2,
        lengths: vec![0, 1, 37, 700, 2100],
        layout: CacheLayout {
            sinks: 4,
            residual: 32,
            ..CacheLayout::default()
        },
        seed,
    };
    let paged = |c: KernelConfig, page_tokens| KernelConfig {
        layout: CodeLayout::Paged { page_tokens },
        ..c
    };
    let mut cases: Vec<_> = grid::shipped()
        .into_iter()
        .flat_map(|c| [paged(c, 16), paged(c, 128)])
        .collect();
    for (head_dim, group) in grid::SHAPES {
        let d = KernelConfig::default_for(
            head_dim,
            group,
            "d4b8".parse().unwrap(),
            "d4b8".parse().unwrap(),
        );
        cases.extend(vecinfer_codegen::PAGE_TOKENS.map(|p| paged(d, p)));
    }
    let cases: Vec<_> = cases
        .into_iter()
        .enumerate()
        .map(|(i, c)| (c, case(600 + i as u64)))
        .collect();
    run(&gpu, &cases);
}

#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release -- --ignored with VECINFER_REQUIRE_GPU=1"]
fn every_axis_matches_the_cpu_reference() {
    let Some(gpu) = gpu_or_skip() else { return };
    let base = KernelConfig {
        key_scoring: KeyScoring::Lut,
        ..KernelConfig::cuda_core_for(64, 3, "d4b8".parse().unwrap(), "d4b8".parse().unwrap())
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

/// A case per config: two KV heads, sequences of `lengths`, 4 sinks and a window of 40 (so
/// every length above 44 has coded rows), seeds from `first_seed` on.
fn two_head_cases(
    configs: impl IntoIterator<Item = KernelConfig>,
    lengths: &[usize],
    first_seed: u64,
) -> Vec<(KernelConfig, RandomCase)> {
    configs
        .into_iter()
        .enumerate()
        .map(|(i, config)| {
            let case = RandomCase {
                kv_heads: 2,
                lengths: lengths.to_vec(),
                layout: CacheLayout {
                    sinks: 4,
                    residual: 40,
                    ..CacheLayout::default()
                },
                seed: first_seed + i as u64,
            };
            (config, case)
        })
        .collect()
}

#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release -- --ignored with VECINFER_REQUIRE_GPU=1"]
fn every_mma_axis_matches_the_cpu_reference() {
    let Some(gpu) = gpu_or_skip() else { return };
    let base = KernelConfig {
        key_scoring: KeyScoring::Mma,
        codebook_replicas: 4,
        tile_tokens: 128,
        direct_codes: false,
        stages: 2,
        ..KernelConfig::default_for(64, 3, "d4b8".parse().unwrap(), "d4b8".parse().unwrap())
    };
    let direct = |c: KernelConfig| KernelConfig {
        direct_codes: true,
        stages: 1,
        ..c
    };
    let codecs = |k: &str, v: &str| KernelConfig {
        key_codec: k.parse().unwrap(),
        value_codec: v.parse().unwrap(),
        codebook_replicas: 1,
        ..base
    };
    let variants = [
        base,
        KernelConfig {
            output: OutputDtype::Bf16,
            ..base
        },
        KernelConfig {
            output: OutputDtype::Bf16,
            split_query: true,
            ..base
        },
        KernelConfig {
            split_query: true,
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
            split: SplitPolicy::Fixed(1),
            ..base
        },
        KernelConfig {
            split: SplitPolicy::Fixed(7),
            ..base
        },
        KernelConfig { stages: 1, ..base },
        KernelConfig { stages: 4, ..base },
        KernelConfig {
            warps: 8,
            tile_tokens: 256,
            ..base
        },
        KernelConfig {
            warps: 2,
            tile_tokens: 64,
            ..base
        },
        KernelConfig {
            warps: 1,
            tile_tokens: 128,
            ..base
        },
        KernelConfig { group: 1, ..base },
        KernelConfig { group: 8, ..base },
        KernelConfig {
            head_dim: 128,
            group: 4,
            ..base
        },
        KernelConfig {
            head_dim: 256,
            group: 2,
            ..base
        },
        KernelConfig {
            codebook_replicas: 1,
            ..base
        },
        KernelConfig {
            codebook_replicas: 32,
            ..base
        },
        codecs("d2b8", "d2b8"),
        codecs("d8b8", "d8b8"),
        codecs("d8b12", "d8b12"),
        codecs("d8b10", "d4b12"),
        codecs("d2b11", "d8b9"),
        KernelConfig {
            head_dim: 128,
            group: 4,
            ..codecs("d8b12", "d8b8")
        },
        // 12-bit spans read as words (keys: 8 codes, 96 bits) and as halves (values: 4 codes).
        KernelConfig {
            head_dim: 128,
            group: 4,
            ..codecs("d4b12", "d4b12")
        },
        // 10-bit spans read as words (keys: 16 codes, 160 bits) and by bytes (values: 4 codes,
        // 40 bits).
        KernelConfig {
            head_dim: 128,
            group: 4,
            ..codecs("d2b10", "d4b10")
        },
        direct(base),
        direct(codecs("d2b8", "d2b8")),
        direct(codecs("d8b8", "d8b8")),
        direct(KernelConfig { group: 8, ..base }),
        direct(KernelConfig {
            warps: 1,
            tile_tokens: 128,
            ..base
        }),
        direct(KernelConfig {
            head_dim: 128,
            group: 4,
            tile_tokens: 256,
            codebook_replicas: 16,
            ..base
        }),
        direct(KernelConfig {
            head_dim: 256,
            group: 2,
            split: SplitPolicy::Fixed(3),
            ..base
        }),
        // Books over 16 KB keep one copy while the other book takes the replicas
        // (KernelConfig::book_copies): copies of 8-dim values (16-byte reads), 4-dim (8-byte)
        // and 2-dim (4-byte) beside a one-copy key book, and copies of keys beside a one-copy
        // value book.
        KernelConfig {
            head_dim: 128,
            group: 4,
            codebook_replicas: 8,
            ..codecs("d8b12", "d8b8")
        },
        KernelConfig {
            head_dim: 128,
            group: 4,
            codebook_replicas: 16,
            ..codecs("d4b12", "d4b8")
        },
        KernelConfig {
            codebook_replicas: 4,
            ..codecs("d4b12", "d2b8")
        },
        KernelConfig {
            head_dim: 128,
            group: 4,
            codebook_replicas: 16,
            ..codecs("d4b8", "d4b12")
        },
    ];
    // Every axis again with the other key mma (tokens as its rows where base has heads).
    let other_rows = variants.map(|c| KernelConfig {
        key_token_rows: !c.key_token_rows,
        ..c
    });
    let cases = two_head_cases(variants.into_iter().chain(other_rows), &[5, 333, 1200], 300);
    run(&gpu, &cases);
}

#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release -- --ignored with VECINFER_REQUIRE_GPU=1"]
fn llama_shape_matches_the_cpu_reference() {
    let Some(gpu) = gpu_or_skip() else { return };
    // Llama-3.1-8B: 32 query heads, 8 KV heads, head dim 128.
    let cases: Vec<_> = grid::CODECS
        .iter()
        .flat_map(|(k, v)| {
            let (k, v) = (k.parse().unwrap(), v.parse().unwrap());
            [
                KernelConfig::cuda_core_for(128, 4, k, v),
                KernelConfig::default_for(128, 4, k, v),
            ]
        })
        .map(|config| {
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

/// e4m3 key books (`BookFormat::E4m3`): the case rounds its random key books to e4m3, so the
/// kernel's shared-memory book is exact and the tolerance is the f16 book's. d8b12 and d8b11
/// keys; both key mma forms; one-copy and copied value books; the fast 1.25-bit geometry (t512
/// w8); per-head books; pages; head dims 64 and 128. On a GPU without fp8 conversions (before
/// sm_89) the kernel must be refused with the typed error instead.
#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release -- --ignored with VECINFER_REQUIRE_GPU=1"]
fn e4m3_key_books_match_the_cpu_reference() {
    let Some(gpu) = gpu_or_skip() else { return };
    let e4m3 = |d: usize, g: usize, k: &str, v: &str, replicas: usize| KernelConfig {
        key_book: BookFormat::E4m3,
        codebook_replicas: replicas,
        ..KernelConfig::default_for(d, g, k.parse().unwrap(), v.parse().unwrap())
    };
    let llama = e4m3(128, 4, "d8b12", "d8b8", 8);
    let variants = [
        llama,
        KernelConfig {
            key_token_rows: false,
            ..llama
        },
        KernelConfig {
            tile_tokens: 512,
            warps: 8,
            ..llama
        },
        KernelConfig {
            granularity: Granularity::Head,
            codebook_replicas: 1,
            ..llama
        },
        e4m3(128, 4, "d8b12", "d8b12", 1),
        e4m3(64, 3, "d8b11", "d4b8", 16),
        KernelConfig {
            layout: CodeLayout::Paged { page_tokens: 64 },
            ..e4m3(64, 3, "d8b12", "d8b8", 4)
        },
    ];
    if !vecinfer_codegen::has_fp8_conversions(gpu.arch) {
        for config in variants {
            let Err(err) = VqAttention::new(&gpu, &config) else {
                panic!("{config} built on {}", gpu.arch)
            };
            assert!(
                err.to_string().contains("an e4m3 key book"),
                "{config}: {err}"
            );
        }
        eprintln!("{}: no fp8 conversions, e4m3 key books refused", gpu.arch);
        return;
    }
    let cases = two_head_cases(variants, &[5, 333, 1200, 4100], 500);
    run(&gpu, &cases);
    // The random caches benchmarks and the tuner time on round their key books the same way
    // (verify::random_books), so the cache accepts the e4m3 kernel, contiguous and paged.
    for config in [llama, variants[6]] {
        let shape = vecinfer_quant::DecodeShape {
            batch: 2,
            q_heads: 2 * config.group,
            kv_heads: 2,
            head_dim: config.head_dim,
        };
        vecinfer_runtime::OneLayerCache::random(&gpu, shape, &config, &[700, 3000], 32, 9)
            .unwrap_or_else(|e| panic!("{config}: {e}"));
    }
    // A paged cache of several layers takes e4m3 kernels only if every layer's key books are
    // e4m3 values; layers that differ there are still one cache.
    let (k, v) = ("d8b12".parse().unwrap(), "d8b8".parse().unwrap());
    let mut set =
        vecinfer_quant::synthetic::random_codebook_set(3, k, v, Granularity::Layer, 2, 2, 128);
    let layer0 = set.keys[KeyTransform::BOTH.name()][0].to_e4m3();
    set.keys.get_mut(KeyTransform::BOTH.name()).unwrap()[0] = layer0;
    let options = vecinfer_runtime::PagedCacheOptions {
        page_tokens: 64,
        pool: vecinfer_runtime::PoolSize::Pages(8),
        max_sequences: 2,
        window: CacheLayout::default(),
        shuffle_seed: None,
    };
    let paged = |set: &vecinfer_quant::CodebookSet| {
        vecinfer_runtime::PagedKvCache::from_codebooks(&gpu, set, KeyTransform::BOTH, options)
            .unwrap()
            .spec()
            .key_books
    };
    assert_eq!(paged(&set), BookFormat::F16);
    set.round_keys_to_e4m3();
    assert_eq!(paged(&set), BookFormat::E4m3);
}

/// Launches planned for longer sequences than the batch holds, as an engine plans a CUDA graph
/// for the longest length it will reach: the kernels cut each sequence into the plan's pieces
/// from the length tables and the plan's spare blocks idle; each sequence's fp16 tokens (sinks
/// and window) go to the piece holding its last coded row (`fp16_split`; its only piece for a
/// sequence without coded rows). In a sequence with coded rows, dropped or doubled fp16 tokens
/// would be far over the tolerance. Each plan from the longest alone and the ragged one
/// (`plan_for_lengths`, every sequence grown alike); then a piece of one tile (the most pieces),
/// and a plan with a piece too few for the last sequence, which must come out NaN.
#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release -- --ignored with VECINFER_REQUIRE_GPU=1"]
fn launches_planned_for_longer_sequences_match_the_cpu_reference() {
    let Some(gpu) = gpu_or_skip() else { return };
    let case = |seed| RandomCase {
        kv_heads: 2,
        // 36 fp16 tokens (4 sinks, a window of 32); 548 and 1060 end their coded rows on a
        // split boundary (512 and 1024), so fp16_split is a split without their coded rows.
        lengths: vec![0, 1, 36, 37, 300, 548, 700, 1060, 2100],
        layout: CacheLayout {
            sinks: 4,
            residual: 32,
            ..CacheLayout::default()
        },
        seed,
    };
    let d4b8 = "d4b8".parse().unwrap();
    let llama = KernelConfig::default_for(128, 4, d4b8, d4b8);
    let paged = |c: KernelConfig| KernelConfig {
        layout: CodeLayout::Paged { page_tokens: 64 },
        ..c
    };
    let configs = [
        llama,
        paged(llama),
        KernelConfig {
            tile_tokens: 512,
            min_blocks_per_sm: 0,
            ..llama
        },
        KernelConfig {
            direct_codes: false,
            ..llama
        },
        KernelConfig::cuda_core_for(128, 4, d4b8, d4b8),
        paged(KernelConfig::default_for(64, 3, d4b8, d4b8)),
    ];
    let cases: Vec<_> = configs
        .iter()
        .enumerate()
        .map(|(i, &c)| (c, case(900 + i as u64)))
        .collect();
    precompile(&gpu, &cases);
    let mut failures = Vec::new();
    for (config, case) in &cases {
        let check = VerifyCase::new(&gpu, config, case).unwrap();
        let kernel = VqAttention::new(&gpu, config).unwrap();
        let longest =
            case.lengths.iter().max().unwrap() - (case.layout.sinks + case.layout.residual);
        for planned in [longest, 3 * longest, 40 * longest] {
            let plan = kernel.plan_for(&gpu, case.lengths.len(), case.kv_heads, planned);
            let worst = check
                .worst_error_planned(&gpu, &kernel, planned)
                .unwrap_or_else(|e| panic!("{config}: {e}"));
            eprintln!(
                "{:<80} planned {planned:>6} ({} pieces of {}) worst rel err {worst:.2e}",
                config.name(),
                plan.pieces(),
                plan.tokens_per_split
            );
            if worst.is_nan() || worst > tolerance(config) {
                failures.push(format!("{config} planned {planned}: {worst:.3e}"));
            }
            // The ragged plan for every sequence grown as the longest (an engine's captured
            // horizon, engine/src/vq.rs): pieces cut for the batch, not for the longest alone.
            let fp16 = case.layout.sinks + case.layout.residual;
            let grown: Vec<usize> = case
                .lengths
                .iter()
                .map(|&n| (n + planned - longest).saturating_sub(fp16))
                .collect();
            let ragged = kernel.plan_for_lengths(&gpu, case.kv_heads, &grown);
            let worst = check
                .worst_error_with_plan(&gpu, &kernel, ragged.clone())
                .unwrap_or_else(|e| panic!("{config}: {e}"));
            eprintln!(
                "{:<80} ragged {planned:>6} ({} pieces of {}) worst rel err {worst:.2e}",
                config.name(),
                ragged.pieces(),
                ragged.tokens_per_split
            );
            if worst.is_nan() || worst > tolerance(config) {
                failures.push(format!("{config} ragged plan for {planned}: {worst:.3e}"));
            }
        }
        let fp16 = case.layout.sinks + case.layout.residual;
        let coded: Vec<usize> = case
            .lengths
            .iter()
            .map(|&n| n.saturating_sub(fp16))
            .collect();
        let finest = SplitPlan::for_lengths(&coded, config.tile_tokens as u32);
        let worst = check
            .worst_error_with_plan(&gpu, &kernel, finest.clone())
            .unwrap_or_else(|e| panic!("{config}: {e}"));
        eprintln!(
            "{:<80} one tile a piece ({} pieces) worst rel err {worst:.2e}",
            config.name(),
            finest.pieces(),
        );
        if worst.is_nan() || worst > tolerance(config) {
            failures.push(format!("{config} one tile a piece: {worst:.3e}"));
        }
        let mut short = finest;
        *short.splits.last_mut().unwrap() -= 1;
        let worst = check
            .worst_error_with_plan(&gpu, &kernel, short)
            .unwrap_or_else(|e| panic!("{config}: {e}"));
        if worst.is_finite() {
            failures.push(format!(
                "{config}: a plan one piece short gave finite outputs (worst {worst:.3e})"
            ));
        }
        // One piece per sequence (stride 1): the attention writes the (NaN-poisoned) output
        // itself and no merge runs; with pieces a tile short of the longest, NaN.
        let tile = config.tile_tokens;
        let tiles = coded.iter().max().unwrap().div_ceil(tile);
        let whole = SplitPlan::uniform(coded.len(), 1, (tiles * tile) as u32);
        let worst = check
            .worst_error_with_plan(&gpu, &kernel, whole)
            .unwrap_or_else(|e| panic!("{config}: {e}"));
        eprintln!(
            "{:<80} one piece a sequence worst rel err {worst:.2e}",
            config.name()
        );
        if worst.is_nan() || worst > tolerance(config) {
            failures.push(format!("{config} one piece a sequence: {worst:.3e}"));
        }
        let cut = SplitPlan::uniform(coded.len(), 1, ((tiles - 1) * tile) as u32);
        let worst = check
            .worst_error_with_plan(&gpu, &kernel, cut)
            .unwrap_or_else(|e| panic!("{config}: {e}"));
        if worst.is_finite() {
            failures.push(format!(
                "{config}: one piece a tile short of the longest gave finite outputs (worst {worst:.3e})"
            ));
        }
    }
    assert_within_tolerance(&failures);
}

/// A launch captured in a CUDA graph reads its plan's table from the workspace
/// (`VqAttention::prepare_plan` uploads it before the capture). Replayed, it matches the CPU
/// reference; replayed after another plan was launched on the same workspace, every output is
/// NaN (the kernels compare the upload's number), never that plan's pieces. The same for a
/// captured one-piece plan, whose attention writes the output itself (no merge): each block then
/// poisons its entry's rows. A one-piece plan too short for one entry gives NaN at exactly that
/// entry's rows. Both kernel families. A prepared workspace refuses to grow.
#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release -- --ignored with VECINFER_REQUIRE_GPU=1"]
fn a_graph_replayed_after_another_plan_gives_nan() {
    let Some(mut gpu) = gpu_or_skip() else { return };
    // As the engine does (engine/src/engine.rs): the legacy default stream cannot be captured
    // (CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED), so the test runs on a stream of its own, and
    // without cross-stream events, which invalidate a capture.
    // SAFETY: every buffer of this test is used on its stream only.
    unsafe { gpu.context.disable_event_tracking() };
    gpu.stream = gpu.context.new_stream().unwrap();
    let d4b8 = "d4b8".parse().unwrap();
    // Both families: each writes a one-piece plan's output, and poisons its rows, itself.
    for config in [
        KernelConfig::default_for(128, 4, d4b8, d4b8),
        KernelConfig::cuda_core_for(128, 4, d4b8, d4b8),
    ] {
        graph_replays(&gpu, config);
    }
}

/// `a_graph_replayed_after_another_plan_gives_nan` for one kernel config.
fn graph_replays(gpu: &Gpu, config: KernelConfig) {
    use cudarc::driver::sys::{CUgraphInstantiate_flags, CUstreamCaptureMode};
    let case = RandomCase {
        kv_heads: 2,
        lengths: vec![300, 2100, 40],
        layout: CacheLayout {
            sinks: 4,
            residual: 32,
            ..CacheLayout::default()
        },
        seed: 31,
    };
    let check = VerifyCase::new(gpu, &config, &case).unwrap();
    let kernel = VqAttention::new(gpu, &config).unwrap();
    let st = &gpu.stream;
    let query = st.clone_htod(&check.query_bits()).unwrap();
    let mut out = st.alloc_zeros::<u16>(query.len()).unwrap();
    let coded: Vec<usize> = case.lengths.iter().map(|n| n.saturating_sub(36)).collect();
    let tile = config.tile_tokens as u32;
    let planned = kernel.plan(gpu, &check.view().unwrap());
    // One piece per sequence (stride 1): the attention writes the output, no merge runs; from
    // a table not its own, each block poisons its own sequence's rows.
    let whole = SplitPlan::uniform(3, 1, (2100 / tile + 1) * tile);
    // Pieces of another length than the planner's (on an H200 it picks one tile, the same as
    // `for_lengths(.., tile)`: the first run of this test compared a plan with itself).
    let other_tokens = if planned.tokens_per_split == tile {
        2 * tile
    } else {
        tile
    };
    let other = SplitPlan::for_lengths(&coded, other_tokens);
    assert_ne!(planned, other);
    let rows = 3 * 8 * planned.stride().max(other.stride()) as usize;
    let mut workspace = Workspace::default();
    for captured in [&planned, &whole] {
        workspace = Workspace::with_capacity(gpu, rows, 128).unwrap();
        kernel.prepare_plan(gpu, &mut workspace, captured).unwrap();
        st.begin_capture(CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_RELAXED)
            .unwrap();
        let launched = kernel.attend_with_plan(
            gpu,
            check.view().unwrap(),
            &query,
            &mut out,
            &mut workspace,
            captured,
        );
        let graph = st.end_capture(CUgraphInstantiate_flags(0)).unwrap();
        launched.unwrap();
        let graph = graph.expect("the capture holds the launches");
        graph.launch().unwrap();
        let worst = check.error_of(&st.clone_dtoh(&out).unwrap());
        assert!(worst <= TOLERANCE, "{captured:?} replayed: {worst:.3e}");
        // Another plan on the same workspace replaces the table: its own launch is right...
        kernel
            .attend_with_plan(
                gpu,
                check.view().unwrap(),
                &query,
                &mut out,
                &mut workspace,
                &other,
            )
            .unwrap();
        let worst = check.error_of(&st.clone_dtoh(&out).unwrap());
        assert!(worst <= TOLERANCE, "the other plan: {worst:.3e}");
        // ...and the graph's replay writes NaN everywhere.
        graph.launch().unwrap();
        let bits = st.clone_dtoh(&out).unwrap();
        assert!(
            bits.iter().all(|&b| half::f16::from_bits(b).is_nan()),
            "{captured:?}: a replay over another plan's table must give NaN"
        );
    }
    // One piece of 2048 rows each leaves entry 1 (2064 coded rows) uncovered: exactly its rows
    // (all KV heads) are NaN, the other entries' are the reference's.
    let cut = SplitPlan::uniform(3, 1, 2048);
    kernel
        .attend_with_plan(
            gpu,
            check.view().unwrap(),
            &query,
            &mut out,
            &mut workspace,
            &cut,
        )
        .unwrap();
    let bits = st.clone_dtoh(&out).unwrap();
    let row = 8 * 128; // one entry's query heads × head dim
    for (entry, rows) in bits.chunks(row).enumerate() {
        let nan = rows
            .iter()
            .filter(|&&b| half::f16::from_bits(b).is_nan())
            .count();
        let want = if entry == 1 { row } else { 0 };
        assert_eq!(
            nan, want,
            "{config}: entry {entry} of the cut one-piece plan"
        );
    }
    // A plan that needs more rows than the prepared workspace holds is refused.
    let wide = SplitPlan::for_lengths(&coded, tile).splits.len();
    let bigger = SplitPlan::uniform(wide, 2 * rows as u32, tile);
    let e = kernel
        .attend_with_plan(
            gpu,
            check.view().unwrap(),
            &query,
            &mut out,
            &mut workspace,
            &bigger,
        )
        .expect_err("a prepared workspace must not grow");
    assert!(e.to_string().contains("cannot grow"), "{e}");
}

/// The split query's low part rides in the score mma's padding rows (8-15, heads as the key
/// mma's rows) or takes a second mma into the same scores (tokens as rows): in both forms it
/// must take effect, so the error against the CPU reference (which scores the fp16 query
/// exactly) drops. Measured (heads as rows): 7.2e-4 → 4.0e-4 at head dim 128 (the fp16
/// output's rounding is the floor); a low part that scored nothing would leave it unchanged,
/// and one applied to half the dims would land near 0.8×.
#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release -- --ignored with VECINFER_REQUIRE_GPU=1"]
fn the_split_query_low_part_lowers_the_error() {
    let Some(gpu) = gpu_or_skip() else { return };
    let case = RandomCase {
        kv_heads: 8,
        lengths: vec![3, 700, 2500],
        layout: CacheLayout::default(),
        seed: 1,
    };
    let default =
        KernelConfig::default_for(128, 4, "d4b8".parse().unwrap(), "d4b8".parse().unwrap());
    let pairs: Vec<_> = [false, true]
        .map(|key_token_rows| {
            let one_part = KernelConfig {
                key_token_rows,
                ..default
            };
            let two_parts = KernelConfig {
                split_query: true,
                ..one_part
            };
            (one_part, two_parts)
        })
        .into();
    let all: Vec<_> = pairs
        .iter()
        .flat_map(|&(a, b)| [(a, case.clone()), (b, case.clone())])
        .collect();
    precompile(&gpu, &all);
    let error = |c: &KernelConfig| {
        worst_relative_error(&gpu, c, &case).unwrap_or_else(|e| panic!("{c}: {e}"))
    };
    for (one_part, two_parts) in &pairs {
        let (one, two) = (error(one_part), error(two_parts));
        eprintln!("{one_part}: worst rel err: one part {one:.2e}, two parts {two:.2e}");
        assert!(
            two <= TOLERANCE && two < 0.7 * one,
            "{one_part}: the low part did not lower the error: {one:.3e} → {two:.3e}"
        );
    }
}

/// Real post-RoPE K, V and Q of SmolLM2 (`vecinfer dump-kv`) with calibrated codebooks
/// (`vecinfer calibrate`): VECINFER_REAL_KV and VECINFER_REAL_CODEBOOKS name the two files.
/// Every dumped layer, every calibrated transform, the query of the last position.
#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release -- --ignored with VECINFER_REQUIRE_GPU=1"]
fn real_smollm2_kv_matches_the_cpu_reference() {
    let (Ok(kv_path), Ok(cb_path)) = (
        std::env::var("VECINFER_REAL_KV"),
        std::env::var("VECINFER_REAL_CODEBOOKS"),
    ) else {
        eprintln!(
            "SKIPPED: set VECINFER_REAL_KV (from vecinfer dump-kv) and VECINFER_REAL_CODEBOOKS (from vecinfer calibrate)"
        );
        return;
    };
    let Some(gpu) = gpu_or_skip() else { return };
    let set = vecinfer_quant::CodebookSet::load(std::path::Path::new(&cb_path)).unwrap();
    // Books of d8b11 or d8b12 keys run again rounded to e4m3, under e4m3 key-book kernels
    // (where the GPU converts fp8), against a reference of the same rounded books.
    let mut sets = vec![(set.clone(), BookFormat::F16)];
    if vecinfer_codegen::e4m3_key_codec(set.meta.key_codec)
        && vecinfer_codegen::has_fp8_conversions(gpu.arch)
    {
        let mut rounded = set.clone();
        rounded.round_keys_to_e4m3();
        sets.push((rounded, BookFormat::E4m3));
    }
    let bytes = std::fs::read(&kv_path).unwrap();
    let dump = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let floats = |name: &str| -> (Vec<f32>, Vec<usize>) {
        let t = dump.tensor(name).unwrap();
        (
            t.data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            t.shape().to_vec(),
        )
    };
    let mut layers: Vec<usize> = dump
        .names()
        .iter()
        .filter_map(|n| n.strip_prefix("layer")?.strip_suffix(".k")?.parse().ok())
        .collect();
    layers.sort_unstable();
    assert!(!layers.is_empty(), "{kv_path} holds no layer");
    let mut cases = 0;
    for layer in layers {
        let (k, ks) = floats(&format!("layer{layer}.k"));
        let (v, _) = floats(&format!("layer{layer}.v"));
        let (q, qs) = floats(&format!("layer{layer}.q"));
        let (hk, t, d) = (ks[0], ks[1], ks[2]);
        let hq = qs[0];
        let shape = vecinfer_quant::DecodeShape {
            batch: 1,
            q_heads: hq,
            kv_heads: hk,
            head_dim: d,
        };
        for (set, key_book) in &sets {
            for transform in set.transforms() {
                let layout = CacheLayout {
                    sinks: 4,
                    residual: 128,
                    ..CacheLayout::default()
                };
                let mut cpu = vecinfer_quant::ReferenceKvCache::new(
                    set.layer(layer, transform).unwrap(),
                    shape,
                    layout,
                )
                .unwrap();
                let token = |x: &[f32], pos: usize| {
                    (0..hk)
                        .flat_map(|h| x[(h * t + pos) * d..(h * t + pos + 1) * d].to_vec())
                        .collect::<Vec<f32>>()
                };
                for pos in 0..t {
                    cpu.append(0, &token(&k, pos), &token(&v, pos)).unwrap();
                }
                let queries: Vec<f32> = (0..hq)
                    .flat_map(|h| q[(h * t + t - 1) * d..(h * t + t) * d].to_vec())
                    .collect();
                let (kc, vc) = (set.meta.key_codec, set.meta.value_codec);
                for base in [
                    KernelConfig::cuda_core_for(d, hq / hk, kc, vc),
                    KernelConfig::default_for(d, hq / hk, kc, vc),
                    KernelConfig {
                        layout: CodeLayout::Paged { page_tokens: 64 },
                        ..KernelConfig::default_for(d, hq / hk, kc, vc)
                    },
                    // The wide tiles the engine took at head dim 64 and batch <= 4 until its GPU
                    // perplexity left the CPU's (bench/results/model-s8/README.md).
                    KernelConfig {
                        layout: CodeLayout::Paged { page_tokens: 64 },
                        tile_tokens: 512,
                        warps: 8,
                        min_blocks_per_sm: 0,
                        ..KernelConfig::default_for(d, hq / hk, kc, vc)
                    },
                ] {
                    let key_scoring = base.key_scoring;
                    if *key_book == BookFormat::E4m3 && key_scoring != KeyScoring::Mma {
                        continue;
                    }
                    let config = KernelConfig {
                        granularity: set.meta.granularity,
                        transform,
                        key_book: *key_book,
                        ..base
                    };
                    let worst = vecinfer_runtime::verify::compare_with_reference(
                        &gpu, &config, &cpu, &queries,
                    )
                    .unwrap();
                    eprintln!(
                        "real KV layer {layer} {transform} {} {} {key_book} keys t{} w{} ({t} tokens, {} coded): worst rel err {worst:.2e}",
                        key_scoring.name(),
                        config.layout,
                        config.tile_tokens,
                        config.warps,
                        cpu.quantized_len(0)
                    );
                    assert!(
                        !worst.is_nan() && worst <= TOLERANCE,
                        "layer {layer} {transform} {}: {worst}",
                        key_scoring.name()
                    );
                    cases += 1;
                }
            }
        }
    }
    assert!(cases > 0);
}

/// Caches that hold their sinks and window as int8 rows with a scale each: every kernel
/// family, every lane width that reads a slot row (the CUDA-core kernels' 8, 16 and 32 dims per
/// lane, the mma kernel's fragments), head dims 64 to 256, both code layouts; windows shorter
/// than, as long as and longer than a 16-token slab.
#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release -- --ignored with VECINFER_REQUIRE_GPU=1"]
fn int8_windows_match_the_cpu_reference() {
    let Some(gpu) = gpu_or_skip() else { return };
    let d4b8 = || "d4b8".parse().unwrap();
    let int8 = |c: KernelConfig| KernelConfig {
        window: WindowPrecision::Int8,
        ..c
    };
    let cuda_core = KernelConfig {
        key_scoring: KeyScoring::Lut,
        ..KernelConfig::cuda_core_for(64, 3, d4b8(), d4b8())
    };
    let variants = [
        int8(cuda_core),
        int8(KernelConfig {
            dims_per_lane: 16,
            key_scoring: KeyScoring::Dequantize,
            ..cuda_core
        }),
        int8(KernelConfig {
            dims_per_lane: 32,
            head_dim: 256,
            key_scoring: KeyScoring::Dequantize,
            ..cuda_core
        }),
        int8(KernelConfig::default_for(64, 3, d4b8(), d4b8())),
        int8(KernelConfig::default_for(128, 4, d4b8(), d4b8())),
        int8(KernelConfig::default_for(256, 2, d4b8(), d4b8())),
        int8(KernelConfig::default_for(
            128,
            4,
            "d8b12".parse().unwrap(),
            "d8b8".parse().unwrap(),
        )),
        int8(KernelConfig {
            layout: CodeLayout::Paged { page_tokens: 64 },
            ..KernelConfig::default_for(64, 3, d4b8(), d4b8())
        }),
    ];
    let windows = [(4, 128), (0, 16), (3, 5)];
    let cases: Vec<_> = variants
        .into_iter()
        .enumerate()
        .flat_map(|(i, c)| {
            windows.map(|(sinks, residual)| {
                (
                    c,
                    RandomCase {
                        kv_heads: 2,
                        lengths: vec![2, 100, 1200],
                        layout: CacheLayout {
                            sinks,
                            residual,
                            precision: WindowPrecision::Int8,
                        },
                        seed: 700 + i as u64,
                    },
                )
            })
        })
        .collect();
    run(&gpu, &cases);
}
