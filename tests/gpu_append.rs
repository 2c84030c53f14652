//! Quantize-and-append on the GPU against the CPU reference cache: the same tokens appended to
//! both (bulk prefill, decode steps, from ragged states), then the codes byte for byte, the
//! fp16 sinks and window slot for slot, the lengths, and attention over the result. Runs where
//! a GPU is; elsewhere it prints a notice and passes, unless VECINFER_REQUIRE_GPU=1.
//!
//! The GPU encoder runs the CPU encoder's arithmetic in the same order (no contraction, exact
//! division), so the codes must match exactly; exact distance ties break to the lowest index
//! on both sides.

use cudarc::driver::CudaSlice;
use half::f16;
use vecinfer_codegen::KernelConfig;
use vecinfer_quant::synthetic::{outlier_keys, random_codebook_set, random_vec, rng};
use vecinfer_quant::{CacheLayout, DecodeShape, Granularity, KeyTransform, ReferenceKvCache};
use vecinfer_runtime::verify::compare_cache_with_reference;
use vecinfer_runtime::{Gpu, GpuKvCache, VqAppend, VqKvCache};

use vecinfer_tests::gpu_or_skip;

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

/// Codes, fp16 slots and lengths of `gpu_cache` against `cpu`; then attention.
fn assert_same_state(
    gpu: &Gpu,
    config: &KernelConfig,
    cache: &GpuKvCache,
    cpu: &ReferenceKvCache<'_>,
    what: &str,
    seed: u64,
) {
    let s = cache.shape;
    let (hk, d) = (s.kv_heads, s.head_dim);
    let layout = cache.layout;
    let (key_codes, value_codes) = cache.download_codes(gpu).unwrap();
    let fp16_keys = gpu.stream.clone_dtoh(&cache.fp16_keys).unwrap();
    let coded_len = gpu.stream.clone_dtoh(&cache.coded_len).unwrap();
    let fp16_len = gpu.stream.clone_dtoh(&cache.fp16_len).unwrap();
    let (krow, vrow) = (config.key_row_bytes(), config.value_row_bytes());
    for seq in 0..s.batch {
        let coded = cpu.quantized_len(seq);
        assert_eq!(
            coded_len[seq] as usize, coded,
            "{what}: coded length of sequence {seq}"
        );
        assert_eq!(
            fp16_len[seq] as usize,
            cpu.len(seq) - coded,
            "{what}: fp16 length of sequence {seq}"
        );
        assert_eq!(
            cache.total_len_host[seq],
            cpu.len(seq),
            "{what}: host length"
        );
        for h in 0..hk {
            let slot = seq * hk + h;
            let gk = &key_codes[slot * cache.code_capacity * krow..][..coded * krow];
            let gv = &value_codes[slot * cache.code_capacity * vrow..][..coded * vrow];
            for (row, (g, c)) in gk
                .chunks(krow)
                .zip(cpu.key_codes(seq, h).chunks(krow))
                .enumerate()
            {
                assert_eq!(
                    g, c,
                    "{what}: key codes of sequence {seq} head {h} token row {row}"
                );
            }
            for (row, (g, c)) in gv
                .chunks(vrow)
                .zip(cpu.value_codes(seq, h).chunks(vrow))
                .enumerate()
            {
                assert_eq!(
                    g, c,
                    "{what}: value codes of sequence {seq} head {h} token row {row}"
                );
            }
            let sinks = cpu.sink_len(seq);
            let cpu_fp16: Vec<u16> = cpu.fp16_keys(seq, h).iter().map(|x| x.to_bits()).collect();
            for (n, want) in cpu_fp16.chunks_exact(d).enumerate() {
                let at = if n < sinks {
                    n
                } else {
                    let token = sinks + coded + (n - sinks);
                    sinks + (token - sinks) % layout.residual
                };
                let got = &fp16_keys[(slot * cache.fp16_capacity + at) * d..][..d];
                assert_eq!(
                    got, want,
                    "{what}: fp16 key {n} of sequence {seq} head {h} (slot {at})"
                );
            }
        }
    }
    let mut r = rng(seed);
    let queries = random_vec(&mut r, s.batch * s.q_heads * d, 2.0);
    let q16: Vec<f16> = queries.iter().map(|&x| f16::from_f32(x)).collect();
    let q32: Vec<f32> = q16.iter().map(|h| h.to_f32()).collect();
    let want: Vec<f32> = cpu
        .attend(&q32)
        .unwrap()
        .into_iter()
        .map(|x| f16::from_f32(x).to_f32())
        .collect();
    let worst = compare_cache_with_reference(gpu, config, cache, &q16, &want).unwrap();
    eprintln!(
        "{what}: codes, fp16 slots and lengths identical; attention worst rel err {worst:.2e}"
    );
    assert!(worst <= TOLERANCE, "{what}: attention error {worst}");
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

#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release -- --ignored with VECINFER_REQUIRE_GPU=1"]
fn prefill_then_decode_matches_the_cpu_cache() {
    let Some(gpu) = gpu_or_skip() else { return };
    let layout = CacheLayout {
        sinks: 4,
        residual: 16,
    };
    for (i, config) in configs().into_iter().enumerate() {
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
        let mut gpu_cache = VqKvCache::new(&gpu, &config, &params, shape, layout, 400).unwrap();
        let mut r = rng(seed);
        // Bulk prefill: sinks, codes and a full window in one launch.
        let prefill = 150;
        let (k, v) = append_cpu_and_upload(&gpu, &mut cpu, &tokens(&mut r, shape, prefill));
        gpu_cache.prefill(&gpu, &k, &v, prefill).unwrap();
        let what = format!("{config} after a prefill of {prefill}");
        assert_same_state(&gpu, &config, &gpu_cache.cache, &cpu, &what, seed);
        // Decode steps: each flushes the oldest window token into codes (ring wraps twice).
        for _ in 0..40 {
            let (k, v) = append_cpu_and_upload(&gpu, &mut cpu, &tokens(&mut r, shape, 1));
            gpu_cache.append(&gpu, &k, &v).unwrap();
        }
        let what = format!("{config} after 40 decode steps");
        assert_same_state(&gpu, &config, &gpu_cache.cache, &cpu, &what, seed + 1);
        // A chunked prefill on top (flushes window tokens from before the call).
        let (k, v) = append_cpu_and_upload(&gpu, &mut cpu, &tokens(&mut r, shape, 21));
        gpu_cache.prefill(&gpu, &k, &v, 21).unwrap();
        let what = format!("{config} after a chunk of 21");
        assert_same_state(&gpu, &config, &gpu_cache.cache, &cpu, &what, seed + 2);
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release -- --ignored with VECINFER_REQUIRE_GPU=1"]
fn decode_from_ragged_states_matches_the_cpu_cache() {
    let Some(gpu) = gpu_or_skip() else { return };
    // Sequences in every phase: filling sinks, filling the window, flushing.
    let lengths = [0usize, 2, 9, 20, 21, 57];
    for (layout, config) in [
        (
            CacheLayout {
                sinks: 4,
                residual: 16,
            },
            configs()[0],
        ),
        (
            CacheLayout {
                sinks: 0,
                residual: 0,
            },
            configs()[1],
        ),
        (
            CacheLayout {
                sinks: 0,
                residual: 7,
            },
            configs()[3],
        ),
    ] {
        let shape = DecodeShape {
            batch: lengths.len(),
            q_heads: 2 * config.group,
            kv_heads: 2,
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
        let appender = VqAppend::new(&gpu, &config).unwrap();
        for _ in 0..30 {
            let (k, v) = append_cpu_and_upload(&gpu, &mut cpu, &tokens(&mut r, shape, 1));
            appender.append(&gpu, &mut cache, &k, &v, 1).unwrap();
        }
        let what = format!("{config} {layout:?} from ragged lengths {lengths:?}");
        assert_same_state(&gpu, &config, &cache, &cpu, &what, 11);
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
}
