//! Quantize-and-append on the GPU against the CPU reference cache: the same tokens appended to
//! both (bulk prefill, decode steps, from ragged states), in the contiguous and the paged
//! layout, then the codes byte for byte, the fp16 sinks and window slot for slot, the lengths,
//! and attention over the result. Runs where a GPU is; elsewhere it prints a notice and
//! passes, unless VECINFER_REQUIRE_GPU=1.
//!
//! The GPU encoder runs the CPU encoder's arithmetic in the same order (no contraction, exact
//! division), so the codes must match exactly; exact distance ties break to the lowest index
//! on both sides.

use cudarc::driver::CudaSlice;
use half::f16;
use vecinfer_codegen::CodeLayout;
use vecinfer_codegen::KernelConfig;
use vecinfer_quant::synthetic::{outlier_keys, random_codebook_set, random_vec, rng};
use vecinfer_quant::{
    CacheLayout, Codebook, CodebookSet, DecodeShape, Granularity, KeyTransform, LayerCodebooks,
    ReferenceKvCache, WindowPrecision,
};
use vecinfer_runtime::{
    Gpu, GpuKvCache, PagedCacheOptions, PagedKvCache, PoolSize, SequenceId, VqAppend, VqKvCache,
};

use vecinfer_tests::gpu_or_skip;
use vecinfer_tests::readback::{PagedBatch, Readback, assert_matches_reference};

const TOLERANCE: f64 = 2e-3;

/// `count` new tokens for every sequence: the `[batch, kv_heads, count, head_dim]` f16 upload
/// and, per sequence and token, the `[kv_heads, head_dim]` rows for the CPU.
struct Tokens {
    keys: Vec<u16>,
    values: Vec<u16>,
    cpu: Vec<Vec<(Vec<f32>, Vec<f32>)>>,
}

fn tokens(r: &mut rand_chacha::ChaCha8Rng, shape: DecodeShape, count: usize) -> Tokens {
    let (b, hk, d) = (shape.batch, shape.kv_heads, shape.head_dim);
    let mut keys = vec![0u16; b * hk * count * d];
    let mut values = vec![0u16; b * hk * count * d];
    let mut cpu = vec![Vec::new(); b];
    for (s, per_seq) in cpu.iter_mut().enumerate() {
        for t in 0..count {
            let round = |x: Vec<f32>| -> Vec<f32> {
                x.into_iter().map(|v| f16::from_f32(v).to_f32()).collect()
            };
            let k = round(outlier_keys(r, hk, d));
            let v = round(random_vec(r, hk * d, 1.0));
            for h in 0..hk {
                let at = ((s * hk + h) * count + t) * d;
                for e in 0..d {
                    keys[at + e] = f16::from_f32(k[h * d + e]).to_bits();
                    values[at + e] = f16::from_f32(v[h * d + e]).to_bits();
                }
            }
            per_seq.push((k, v));
        }
    }
    Tokens { keys, values, cpu }
}

/// Appends `t` to the CPU cache and uploads it for the GPU.
fn append_cpu_and_upload(
    gpu: &Gpu,
    cpu: &mut ReferenceKvCache<'_>,
    t: &Tokens,
) -> (CudaSlice<u16>, CudaSlice<u16>) {
    for (s, per_seq) in t.cpu.iter().enumerate() {
        for (k, v) in per_seq {
            cpu.append(s, k, v).unwrap();
        }
    }
    (
        gpu.stream.clone_htod(&t.keys).unwrap(),
        gpu.stream.clone_htod(&t.values).unwrap(),
    )
}

/// Codes, fp16 slots and lengths of a GPU cache (either layout) against `cpu`; then
/// attention.
fn assert_same_state(
    gpu: &Gpu,
    config: &KernelConfig,
    cache: &dyn Readback,
    cpu: &ReferenceKvCache<'_>,
    what: &str,
    seed: u64,
) {
    let lanes: Vec<usize> = (0..cpu.shape().batch).collect();
    assert_matches_reference(gpu, config, cache, cpu, &lanes, what, seed, TOLERANCE);
}

fn configs() -> Vec<KernelConfig> {
    let c = |d: usize, g: usize, k: &str, v: &str, granularity, transform| KernelConfig {
        granularity,
        transform,
        ..KernelConfig::default_for(d, g, k.parse().unwrap(), v.parse().unwrap())
    };
    vec![
        c(
            64,
            3,
            "d4b8",
            "d4b8",
            Granularity::Layer,
            KeyTransform::BOTH,
        ),
        c(
            128,
            4,
            "d4b8",
            "d4b8",
            Granularity::Layer,
            KeyTransform::BOTH,
        ),
        c(
            64,
            3,
            "d2b8",
            "d2b8",
            Granularity::Head,
            KeyTransform::SMOOTH,
        ),
        c(
            64,
            2,
            "d8b12",
            "d8b8",
            Granularity::Layer,
            KeyTransform::HADAMARD,
        ),
        c(
            128,
            4,
            "d8b10",
            "d4b12",
            Granularity::Head,
            KeyTransform::NONE,
        ),
    ]
}

/// One layer's GPU cache under test: the contiguous `VqKvCache`, or a paged cache (pages
/// handed out in a random order) with the append kernel.
#[allow(clippy::large_enum_variant)] // a test's one value
enum UnderTest {
    Contiguous(VqKvCache),
    Paged(PagedBatch, VqAppend),
}

impl UnderTest {
    fn append(&mut self, gpu: &Gpu, k: &CudaSlice<u16>, v: &CudaSlice<u16>, count: usize) {
        match self {
            Self::Contiguous(c) => c.prefill(gpu, k, v, count).unwrap(),
            Self::Paged(p, appender) => {
                let step = p.cache.begin_step(gpu, &p.ids, count).unwrap();
                p.cache.append(gpu, appender, &step, 0, k, v).unwrap();
                p.step = step;
            }
        }
    }

    fn readback(&self) -> &dyn Readback {
        match self {
            Self::Contiguous(c) => c.cache(),
            Self::Paged(p, _) => p,
        }
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release -- --ignored with VECINFER_REQUIRE_GPU=1"]
fn prefill_then_decode_matches_the_cpu_cache() {
    let Some(gpu) = gpu_or_skip() else { return };
    let layouts = [
        (CodeLayout::Contiguous, WindowPrecision::Fp16),
        (CodeLayout::Paged { page_tokens: 16 }, WindowPrecision::Fp16),
        (CodeLayout::Paged { page_tokens: 64 }, WindowPrecision::Fp16),
        // An int8 window: sinks and window rows as int8 codes and a scale, written by the
        // append, read by the attention, flushed from the int8 rows.
        (CodeLayout::Contiguous, WindowPrecision::Int8),
        (CodeLayout::Paged { page_tokens: 16 }, WindowPrecision::Int8),
    ];
    for (i, base) in configs().into_iter().enumerate() {
        for (l, (code_layout, precision)) in layouts.into_iter().enumerate() {
            let layout = CacheLayout {
                sinks: 4,
                residual: 16,
                precision,
            };
            let config = KernelConfig {
                layout: code_layout,
                window: precision,
                ..base
            };
            let seed = 500 + i as u64;
            let shape = DecodeShape {
                batch: 3,
                q_heads: 2 * config.group,
                kv_heads: 2,
                head_dim: config.head_dim,
            };
            let set = random_codebook_set(
                seed,
                config.key_codec,
                config.value_codec,
                config.granularity,
                1,
                shape.kv_heads,
                shape.head_dim,
            );
            let params = set.layer(0, config.transform).unwrap();
            let mut cpu = ReferenceKvCache::new(params, shape, layout).unwrap();
            let mut under_test = match code_layout {
                CodeLayout::Contiguous => UnderTest::Contiguous(
                    VqKvCache::new(&gpu, &config, &params, shape, layout, 400).unwrap(),
                ),
                CodeLayout::Paged { page_tokens } => {
                    let mut cache = PagedKvCache::new(
                        &gpu,
                        &[params],
                        PagedCacheOptions {
                            page_tokens,
                            pool: PoolSize::Pages(3 * 400 / page_tokens),
                            max_sequences: 3,
                            window: layout,
                            shuffle_seed: Some(seed),
                        },
                    )
                    .unwrap();
                    let ids: Vec<SequenceId> =
                        (0..3).map(|_| cache.add_sequence().unwrap()).collect();
                    let step = cache.begin_step(&gpu, &ids, 0).unwrap();
                    // Each paged run forces one team size, so that between them (and the
                    // ragged test) every size meets several codecs and head dims.
                    let mut appender = VqAppend::new(&gpu, &config).unwrap();
                    let choices = appender.warps_per_row_choices();
                    let warps = choices[(2 * i + l) % choices.len()];
                    appender.set_warps_per_row(Some(warps)).unwrap();
                    UnderTest::Paged(PagedBatch { cache, ids, step }, appender)
                }
            };
            let mut r = rng(seed);
            // Bulk prefill: sinks, codes and a full window in one launch.
            let prefill = 150;
            let (k, v) = append_cpu_and_upload(&gpu, &mut cpu, &tokens(&mut r, shape, prefill));
            under_test.append(&gpu, &k, &v, prefill);
            let warps = match &under_test {
                UnderTest::Contiguous(_) => "auto".to_string(),
                UnderTest::Paged(_, a) => format!("{:?}", a.warps_per_row_for(1, 2, 3)),
            };
            let what = format!("{config} ({warps} warps a row) after a prefill of {prefill}");
            assert_same_state(&gpu, &config, under_test.readback(), &cpu, &what, seed);
            // Decode steps: each flushes the oldest window token into codes (ring wraps twice).
            for _ in 0..40 {
                let (k, v) = append_cpu_and_upload(&gpu, &mut cpu, &tokens(&mut r, shape, 1));
                under_test.append(&gpu, &k, &v, 1);
            }
            let what = format!("{config} ({warps} warps a row) after 40 decode steps");
            assert_same_state(&gpu, &config, under_test.readback(), &cpu, &what, seed + 1);
            // A chunked prefill on top (flushes window tokens from before the call).
            let (k, v) = append_cpu_and_upload(&gpu, &mut cpu, &tokens(&mut r, shape, 21));
            under_test.append(&gpu, &k, &v, 21);
            let what = format!("{config} ({warps} warps a row) after a chunk of 21");
            assert_same_state(&gpu, &config, under_test.readback(), &cpu, &what, seed + 2);
        }
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release -- --ignored with VECINFER_REQUIRE_GPU=1"]
fn decode_from_ragged_states_matches_the_cpu_cache() {
    let Some(gpu) = gpu_or_skip() else { return };
    // Sequences in every phase: filling sinks, filling the window, flushing.
    let six = [0usize, 2, 9, 20, 21, 57];
    // 3 KV heads of 5 sequences: 30 rows, so the last block of 2- and 1-warp teams is partial
    // (its other teams return while these wait at their barriers); head dim 256 with 8-dim
    // value books in registers.
    let five = [0usize, 2, 9, 20, 57];
    let wide = KernelConfig {
        transform: KeyTransform::BOTH,
        ..KernelConfig::default_for(256, 4, "d8b8".parse().unwrap(), "d2b8".parse().unwrap())
    };
    let window = CacheLayout {
        sinks: 4,
        residual: 16,
        ..CacheLayout::default()
    };
    for (layout, config, kv_heads, lengths) in [
        (window, configs()[0], 2, &six[..]),
        (
            CacheLayout {
                sinks: 0,
                residual: 0,
                ..CacheLayout::default()
            },
            configs()[1],
            2,
            &six[..],
        ),
        (
            CacheLayout {
                sinks: 0,
                residual: 7,
                ..CacheLayout::default()
            },
            configs()[3],
            2,
            &six[..],
        ),
        (window, wide, 3, &five[..]),
    ] {
        let shape = DecodeShape {
            batch: lengths.len(),
            q_heads: kv_heads * config.group,
            kv_heads,
            head_dim: config.head_dim,
        };
        let set = random_codebook_set(
            9,
            config.key_codec,
            config.value_codec,
            config.granularity,
            1,
            shape.kv_heads,
            shape.head_dim,
        );
        let params = set.layer(0, config.transform).unwrap();
        let choices = VqAppend::new(&gpu, &config)
            .unwrap()
            .warps_per_row_choices();
        // Every team size, each from the same start.
        for warps in choices {
            let mut cpu = ReferenceKvCache::new(params, shape, layout).unwrap();
            let mut r = rng(10);
            for (s, &n) in lengths.iter().enumerate() {
                for _ in 0..n {
                    let k = outlier_keys(&mut r, shape.kv_heads, shape.head_dim);
                    let v = random_vec(&mut r, shape.kv_heads * shape.head_dim, 1.0);
                    cpu.append(s, &k, &v).unwrap();
                }
            }
            let mut cache = GpuKvCache::from_reference_with_room(&gpu, &cpu, 30).unwrap();
            let mut appender = VqAppend::new(&gpu, &config).unwrap();
            appender.set_warps_per_row(Some(warps)).unwrap();
            for _ in 0..30 {
                let (k, v) = append_cpu_and_upload(&gpu, &mut cpu, &tokens(&mut r, shape, 1));
                cache.append(&gpu, &appender, &k, &v, 1).unwrap();
            }
            let what =
                format!("{config} {layout:?} from ragged lengths {lengths:?}, {warps} warps a row");
            assert_same_state(&gpu, &config, &cache, &cpu, &what, 11);
        }
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release -- --ignored with VECINFER_REQUIRE_GPU=1"]
fn a_team_size_the_kernel_does_not_offer_is_an_error_that_changes_nothing() {
    let Some(gpu) = gpu_or_skip() else { return };
    let held = configs()[0];
    let mut appender = VqAppend::new(&gpu, &held).unwrap();
    assert_eq!(appender.warps_per_row_choices(), [8, 4, 2, 1]);
    appender.set_warps_per_row(Some(2)).unwrap();
    let err = appender.set_warps_per_row(Some(3)).unwrap_err().to_string();
    assert!(
        err.contains("[8, 4, 2, 1]") && err.contains("not 3"),
        "{err}"
    );
    assert_eq!(
        appender.warps_per_row_for(1, 3, 64),
        2,
        "the error kept the forced size"
    );
    appender.set_warps_per_row(None).unwrap();
    assert_eq!(
        appender.warps_per_row_for(1, 3, 1),
        8,
        "6 rows: a block each"
    );
    let streamed = configs()[3];
    let mut appender = VqAppend::new(&gpu, &streamed).unwrap();
    assert_eq!(appender.warps_per_row_choices(), [8]);
    assert!(appender.set_warps_per_row(Some(1)).is_err());
    assert_eq!(appender.warps_per_row_for(1, 8, 4096), 8);
}

/// Every codebook of `set` made periodic: centroid `j` becomes centroid `j % period`. Each
/// nearest centroid then has exact duplicates on other lanes, at later steps and in other parts
/// of the GPU search, and the lowest index must win, as on the CPU.
fn with_duplicate_centroids(set: &mut CodebookSet, period: usize) {
    let periodic = |layer: &LayerCodebooks| {
        let books = layer
            .all()
            .iter()
            .map(|book| {
                let codec = book.codec();
                let centroids: Vec<f32> = (0..codec.codebook_size())
                    .flat_map(|j| book.centroid(j % period).to_vec())
                    .collect();
                Codebook::new(codec, &centroids).unwrap()
            })
            .collect();
        LayerCodebooks::new(books).unwrap()
    };
    for layers in set.keys.values_mut() {
        for layer in layers.iter_mut() {
            *layer = periodic(layer);
        }
    }
    for layer in set.values.iter_mut() {
        *layer = periodic(layer);
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release -- --ignored with VECINFER_REQUIRE_GPU=1"]
fn exact_distance_ties_go_to_the_lowest_index_like_the_cpu() {
    let Some(gpu) = gpu_or_skip() else { return };
    let c = |d: usize, g: usize, k: &str, v: &str| KernelConfig {
        transform: KeyTransform::BOTH,
        ..KernelConfig::default_for(d, g, k.parse().unwrap(), v.parse().unwrap())
    };
    // Books held in registers (256 entries), streamed books with one step a lane (512 entries at
    // 8 sub-vectors), one part per warp (16 sub-vectors), two and four groups of warps (32 and 64
    // sub-vectors).
    // Then books held in registers on both sides, each team size forced.
    let configs = [
        c(64, 3, "d8b9", "d4b8"),
        c(128, 4, "d8b12", "d8b8"),
        c(128, 4, "d4b12", "d4b10"),
        c(128, 4, "d2b10", "d2b8"),
        c(128, 4, "d4b8", "d2b8"),
        c(256, 4, "d8b8", "d4b8"),
    ];
    let layout = CacheLayout {
        sinks: 2,
        residual: 8,
        ..CacheLayout::default()
    };
    for (i, config) in configs.into_iter().enumerate() {
        let seed = 900 + i as u64;
        let shape = DecodeShape {
            batch: 2,
            q_heads: 2 * config.group,
            kv_heads: 2,
            head_dim: config.head_dim,
        };
        let mut set = random_codebook_set(
            seed,
            config.key_codec,
            config.value_codec,
            config.granularity,
            1,
            shape.kv_heads,
            shape.head_dim,
        );
        // 40: not a power of two, so duplicates fall on other lanes as well as later steps.
        with_duplicate_centroids(&mut set, 40);
        let params = set.layer(0, config.transform).unwrap();
        let choices = VqAppend::new(&gpu, &config)
            .unwrap()
            .warps_per_row_choices();
        for warps in choices {
            let mut cpu = ReferenceKvCache::new(params, shape, layout).unwrap();
            let mut cache = VqKvCache::new(&gpu, &config, &params, shape, layout, 200).unwrap();
            cache.set_append_warps_per_row(Some(warps)).unwrap();
            let mut r = rng(seed);
            let (k, v) = append_cpu_and_upload(&gpu, &mut cpu, &tokens(&mut r, shape, 60));
            cache.prefill(&gpu, &k, &v, 60).unwrap();
            for _ in 0..12 {
                let (k, v) = append_cpu_and_upload(&gpu, &mut cpu, &tokens(&mut r, shape, 1));
                cache.prefill(&gpu, &k, &v, 1).unwrap();
            }
            let what = format!(
                "{config} with every centroid repeated every 40 entries, {warps} warps a row"
            );
            assert_same_state(&gpu, &config, cache.cache(), &cpu, &what, seed);
        }
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release -- --ignored with VECINFER_REQUIRE_GPU=1"]
fn appending_past_the_capacity_is_an_error_and_changes_nothing() {
    let Some(gpu) = gpu_or_skip() else { return };
    let config = configs()[0];
    let shape = DecodeShape {
        batch: 1,
        q_heads: config.group,
        kv_heads: 1,
        head_dim: config.head_dim,
    };
    let set = random_codebook_set(
        1,
        config.key_codec,
        config.value_codec,
        config.granularity,
        1,
        1,
        config.head_dim,
    );
    let params = set.layer(0, config.transform).unwrap();
    let layout = CacheLayout {
        sinks: 0,
        residual: 0,
        ..CacheLayout::default()
    };
    let mut cache = VqKvCache::new(&gpu, &config, &params, shape, layout, 16).unwrap();
    let mut r = rng(3);
    let t = tokens(&mut r, shape, 17);
    let keys = gpu.stream.clone_htod(&t.keys).unwrap();
    let values = gpu.stream.clone_htod(&t.values).unwrap();
    let err = cache
        .prefill(&gpu, &keys, &values, 17)
        .unwrap_err()
        .to_string();
    assert!(err.contains("at most 16 coded tokens"), "{err}");
    assert_eq!(cache.len(0), 0);
    let wrong = gpu.stream.clone_htod(&t.keys[..10]).unwrap();
    let err = cache.append(&gpu, &wrong, &values).unwrap_err().to_string();
    assert!(err.contains("batch × kv_heads × count × head_dim"), "{err}");
    assert_eq!(cache.len(0), 0);
}
