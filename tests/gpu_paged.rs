//! The paged cache on the GPU as an engine drives it, against the CPU reference: pages handed
//! out in a random order (never contiguous), ragged prefills, decode steps over ragged subsets
//! of the live sequences, forks that then diverge, sequences removed and their pages reused by
//! new ones, an empty sequence in the batch (zeros), running out of pages (nothing changes),
//! a kernel for another cache refused with a typed error, and the bench's ragged random caches.
//! Codes are compared byte for byte with the CPU encoder's (which the contiguous path also
//! matches, `gpu_append`), the fp16 slots exactly, attention within 2e-3.
//!
//! Runs where a GPU is; elsewhere it prints a notice and passes, unless VECINFER_REQUIRE_GPU=1.

use half::f16;
use std::collections::HashMap;
use vecinfer_codegen::{CodeLayout, KernelConfig};
use vecinfer_quant::synthetic::{outlier_keys, random_codebook_set, random_vec, rng};
use vecinfer_quant::{CacheLayout, DecodeShape, Granularity, KeyTransform, ReferenceKvCache};
use vecinfer_runtime::dependent_launch::supports_dependent_launches;
use vecinfer_runtime::{
    Gpu, GpuKvCache, PagedCacheOptions, PagedKvCache, PoolSize, RuntimeError, SequenceId, VqAppend,
    VqAttention, Workspace,
};
use vecinfer_tests::gpu_or_skip;
use vecinfer_tests::readback::{PagedBatch, assert_matches_reference};

const TOLERANCE: f64 = 2e-3;
/// CPU sequences: one per GPU sequence ever created.
const LANES: usize = 10;

/// A token's keys and values for the CPU, `[kv_heads, head_dim]` each.
type Token = (Vec<f32>, Vec<f32>);

/// The test's engine: a paged cache (inside `batch`, with the last checked batch), its append
/// kernel, and for every GPU sequence the CPU sequence (lane) that mirrors it and the tokens
/// it was given.
struct Engine<'a> {
    gpu: &'a Gpu,
    config: KernelConfig,
    batch: PagedBatch,
    appender: VqAppend,
    cpu: ReferenceKvCache<'a>,
    lane: HashMap<SequenceId, usize>,
    history: HashMap<SequenceId, Vec<Token>>,
    next_lane: usize,
    rng: rand_chacha::ChaCha8Rng,
}

impl Engine<'_> {
    fn cache(&mut self) -> &mut PagedKvCache {
        &mut self.batch.cache
    }

    fn add(&mut self) -> SequenceId {
        let id = self.cache().add_sequence().unwrap();
        self.lane.insert(id, self.next_lane);
        self.history.insert(id, Vec::new());
        self.next_lane += 1;
        id
    }

    /// A new GPU sequence forked from `parent`; its CPU lane replays the parent's tokens.
    fn fork(&mut self, parent: SequenceId) -> SequenceId {
        let gpu = self.gpu;
        let child = self.cache().fork(gpu, parent).unwrap();
        let lane = self.next_lane;
        self.next_lane += 1;
        let tokens = self.history[&parent].clone();
        for (k, v) in &tokens {
            self.cpu.append(lane, k, v).unwrap();
        }
        self.lane.insert(child, lane);
        self.history.insert(child, tokens);
        child
    }

    fn remove(&mut self, id: SequenceId) {
        self.cache().remove_sequence(id).unwrap();
        self.lane.remove(&id);
        self.history.remove(&id);
    }

    /// `count` fresh tokens for each of `ids` (each sequence its own), on both sides.
    fn step(&mut self, ids: &[SequenceId], count: usize) {
        let s = self.cpu.shape();
        let (hk, d) = (s.kv_heads, s.head_dim);
        let mut keys = vec![0u16; ids.len() * hk * count * d];
        let mut values = vec![0u16; keys.len()];
        for (b, id) in ids.iter().enumerate() {
            for t in 0..count {
                let round = |x: Vec<f32>| -> Vec<f32> {
                    x.into_iter().map(|v| f16::from_f32(v).to_f32()).collect()
                };
                let k = round(outlier_keys(&mut self.rng, hk, d));
                let v = round(random_vec(&mut self.rng, hk * d, 1.0));
                for h in 0..hk {
                    let at = ((b * hk + h) * count + t) * d;
                    for e in 0..d {
                        keys[at + e] = f16::from_f32(k[h * d + e]).to_bits();
                        values[at + e] = f16::from_f32(v[h * d + e]).to_bits();
                    }
                }
                self.cpu.append(self.lane[id], &k, &v).unwrap();
                self.history.get_mut(id).unwrap().push((k, v));
            }
        }
        let gpu = self.gpu;
        let (k, v) = (
            gpu.stream.clone_htod(&keys).unwrap(),
            gpu.stream.clone_htod(&values).unwrap(),
        );
        let step = self.batch.cache.begin_step(gpu, ids, count).unwrap();
        self.batch
            .cache
            .append(gpu, &self.appender, &step, 0, &k, &v)
            .unwrap();
    }

    /// The batch `ids` (in this order) against the CPU lanes: state and attention.
    fn check(&mut self, ids: &[SequenceId], what: &str, seed: u64) {
        let gpu = self.gpu;
        self.batch.step = self.batch.cache.begin_step(gpu, ids, 0).unwrap();
        self.batch.ids = ids.to_vec();
        let lanes: Vec<usize> = ids.iter().map(|id| self.lane[id]).collect();
        assert_matches_reference(
            gpu,
            &self.config,
            &self.batch,
            &self.cpu,
            &lanes,
            what,
            seed,
            TOLERANCE,
        );
    }
}

fn configs() -> Vec<KernelConfig> {
    let c =
        |d: usize, g: usize, k: &str, v: &str, granularity, transform, page_tokens| KernelConfig {
            granularity,
            transform,
            layout: CodeLayout::Paged { page_tokens },
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
            16,
        ),
        c(
            128,
            4,
            "d4b8",
            "d4b8",
            Granularity::Layer,
            KeyTransform::BOTH,
            64,
        ),
        c(
            64,
            3,
            "d2b8",
            "d2b8",
            Granularity::Head,
            KeyTransform::SMOOTH,
            32,
        ),
        c(
            128,
            4,
            "d8b12",
            "d8b8",
            Granularity::Layer,
            KeyTransform::HADAMARD,
            128,
        ),
        KernelConfig {
            key_scoring: vecinfer_codegen::KeyScoring::Lut,
            ..KernelConfig {
                layout: CodeLayout::Paged { page_tokens: 16 },
                ..KernelConfig::cuda_core_for(
                    64,
                    3,
                    "d4b8".parse().unwrap(),
                    "d4b8".parse().unwrap(),
                )
            }
        },
    ]
}

#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release -- --ignored with VECINFER_REQUIRE_GPU=1"]
fn an_engine_workload_matches_the_cpu_reference() {
    let Some(gpu) = gpu_or_skip() else { return };
    let window = CacheLayout {
        sinks: 4,
        residual: 16,
        ..CacheLayout::default()
    };
    for (i, config) in configs().into_iter().enumerate() {
        let seed = 900 + i as u64;
        let page_tokens = config.layout.page_tokens().unwrap();
        let shape = DecodeShape {
            batch: LANES,
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
        let mut cache = PagedKvCache::new(
            &gpu,
            &[params],
            PagedCacheOptions {
                page_tokens,
                // Room for about 600 coded rows: removal must return pages for the later
                // sequences to fit.
                pool: PoolSize::Pages(600 / page_tokens + 4),
                max_sequences: 6,
                window,
                shuffle_seed: Some(seed),
            },
        )
        .unwrap();
        let empty = cache.add_sequence().unwrap();
        let step = cache.begin_step(&gpu, &[empty], 0).unwrap();
        let mut e = Engine {
            gpu: &gpu,
            config,
            batch: PagedBatch {
                cache,
                ids: vec![empty],
                step,
            },
            appender: {
                // Every other config appends as a programmatic dependent launch (sm_90).
                let mut appender = VqAppend::new(&gpu, &config).unwrap();
                let dependent = i % 2 == 1 && supports_dependent_launches(gpu.arch);
                appender.set_dependent_launches(&gpu, dependent).unwrap();
                appender
            },
            cpu: ReferenceKvCache::new(params, shape, window).unwrap(),
            lane: HashMap::from([(empty, 0)]),
            history: HashMap::from([(empty, Vec::new())]),
            next_lane: 1,
            rng: rng(seed),
        };
        let name = format!("{config}");
        // Ragged prefills, each sequence on its own.
        let (a, b, c) = (e.add(), e.add(), e.add());
        for (id, count) in [(a, 5), (b, 150), (c, 37)] {
            e.step(&[id], count);
        }
        e.check(&[a, b, empty, c], &format!("{name}: ragged prefills"), seed);
        // Decode steps over ragged subsets.
        for t in 0..24 {
            let batch: Vec<_> = if t % 3 == 0 {
                vec![c, a]
            } else {
                vec![a, b, c]
            };
            e.step(&batch, 1);
        }
        e.check(
            &[c, b, a],
            &format!("{name}: decode over subsets"),
            seed + 1,
        );
        // A fork that then diverges: both write into the shared last page.
        let d = e.fork(b);
        e.check(&[d, b], &format!("{name}: fork"), seed + 2);
        for _ in 0..20 {
            e.step(&[b, d, a], 1);
        }
        e.step(&[d], 23);
        e.check(
            &[a, b, d, empty],
            &format!("{name}: fork diverged"),
            seed + 3,
        );
        // Removal returns pages; new sequences reuse them (old bytes must not show).
        let before = e.batch.cache.table().pool().free_pages();
        e.remove(b);
        assert!(
            e.batch.cache.table().pool().free_pages() > before,
            "{name}: removal freed no page"
        );
        let (f, g) = (e.add(), e.add());
        e.step(&[f, g], 70);
        for _ in 0..10 {
            e.step(&[g, d, f, c], 1);
        }
        e.check(
            &[f, d, empty, g, c, a],
            &format!("{name}: pages reused"),
            seed + 4,
        );
        // Out of pages: a typed error, every sequence unchanged.
        let lengths: Vec<usize> = [a, c, d, f, g]
            .iter()
            .map(|&id| e.batch.cache.len(id).unwrap())
            .collect();
        let free = e.batch.cache.table().pool().free_pages();
        match e
            .batch
            .cache
            .begin_step(&gpu, &[a, c], (free + 1) * page_tokens)
        {
            Err(RuntimeError::OutOfPages { .. }) => {}
            other => panic!("{name}: expected OutOfPages, got {other:?}"),
        }
        let after: Vec<usize> = [a, c, d, f, g]
            .iter()
            .map(|&id| e.batch.cache.len(id).unwrap())
            .collect();
        assert_eq!(lengths, after, "{name}: lengths after a failed step");
        assert_eq!(free, e.batch.cache.table().pool().free_pages());
        e.check(
            &[a, c, d, f, g],
            &format!("{name}: after running out of pages"),
            seed + 5,
        );
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release -- --ignored with VECINFER_REQUIRE_GPU=1"]
fn a_kernel_for_another_cache_is_refused_before_launch() {
    let Some(gpu) = gpu_or_skip() else { return };
    let config = configs()[1];
    let set = random_codebook_set(
        3,
        config.key_codec,
        config.value_codec,
        config.granularity,
        1,
        2,
        128,
    );
    let params = set.layer(0, config.transform).unwrap();
    let mut cache = PagedKvCache::new(
        &gpu,
        &[params],
        PagedCacheOptions {
            page_tokens: 64,
            pool: PoolSize::Pages(8),
            max_sequences: 2,
            window: CacheLayout::default(),
            shuffle_seed: None,
        },
    )
    .unwrap();
    let id = cache.add_sequence().unwrap();
    let step = cache.begin_step(&gpu, &[id], 1).unwrap();
    let q = gpu
        .stream
        .alloc_zeros::<u16>(2 * config.group * 128)
        .unwrap();
    let mut out = gpu.stream.alloc_zeros::<u16>(q.len()).unwrap();
    let kv = gpu.stream.alloc_zeros::<u16>(2 * 128).unwrap();
    let d2b8 = "d2b8".parse().unwrap();
    let others = [
        (
            "key codec",
            KernelConfig {
                key_codec: d2b8,
                ..config
            },
        ),
        (
            "value codec",
            KernelConfig {
                value_codec: d2b8,
                ..config
            },
        ),
        (
            "granularity",
            KernelConfig {
                granularity: Granularity::Head,
                ..config
            },
        ),
        (
            "key transform",
            KernelConfig {
                transform: KeyTransform::NONE,
                ..config
            },
        ),
        (
            "code layout",
            KernelConfig {
                layout: CodeLayout::Paged { page_tokens: 128 },
                ..config
            },
        ),
        (
            "code layout",
            KernelConfig {
                layout: CodeLayout::Contiguous,
                ..config
            },
        ),
        (
            "window precision",
            KernelConfig {
                window: vecinfer_quant::WindowPrecision::Int8,
                ..config
            },
        ),
    ];
    for (what, other) in others {
        let attention = VqAttention::new(&gpu, &other).unwrap();
        match cache.attend(
            &gpu,
            &attention,
            &step,
            0,
            &q,
            &mut out,
            &mut Workspace::default(),
        ) {
            Err(RuntimeError::KernelMismatch { what: w, .. }) => assert_eq!(w, what),
            other => panic!("attention with a {what} mismatch: {other:?}"),
        }
        let appender = VqAppend::new(&gpu, &other).unwrap();
        match cache.append(&gpu, &appender, &step, 0, &kv, &kv) {
            Err(RuntimeError::KernelMismatch { what: w, .. }) => assert_eq!(w, what),
            other => panic!("append with a {what} mismatch: {other:?}"),
        }
    }
    // A head-dim mismatch: a kernel for head dim 64 on this head-dim-128 cache.
    let small = KernelConfig {
        head_dim: 64,
        ..config
    };
    let attention = VqAttention::new(&gpu, &small).unwrap();
    assert!(matches!(
        cache.attend(
            &gpu,
            &attention,
            &step,
            0,
            &q,
            &mut out,
            &mut Workspace::default()
        ),
        Err(RuntimeError::KernelMismatch {
            what: "head dim",
            ..
        })
    ));
    // A stale step: adding a sequence ends it.
    cache.add_sequence().unwrap();
    let attention = VqAttention::new(&gpu, &config).unwrap();
    let err = cache
        .attend(
            &gpu,
            &attention,
            &step,
            0,
            &q,
            &mut out,
            &mut Workspace::default(),
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("this step has ended"), "{err}");
}

/// An engine that manages its own pages: its own device tables in FlashInfer's CSR form over a
/// `LayerStorage`, appends and attention through `ExternalBatch`, checked against the CPU
/// reference. Then tables that lie (page ids past the pool or negative, offsets past the index
/// table, lengths past the pages) must run without reading outside the cache (the assertion is
/// compute-sanitizer memcheck's, which runs this test), and a bound below the longest sequence
/// must give NaN for it, never a silent partial answer.
#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release -- --ignored with VECINFER_REQUIRE_GPU=1"]
fn an_engine_can_bring_its_own_block_tables() {
    use vecinfer_runtime::{CacheView, CacheViewMut, ExternalBatch, LayerStorage};
    let Some(gpu) = gpu_or_skip() else { return };
    let config = configs()[0]; // head dim 64, group 3, pages of 16
    let window = CacheLayout {
        sinks: 4,
        residual: 16,
        ..CacheLayout::default()
    };
    let (hk, d) = (2, 64);
    let shape = DecodeShape {
        batch: 2,
        q_heads: hk * config.group,
        kv_heads: hk,
        head_dim: d,
    };
    let set = random_codebook_set(
        5,
        config.key_codec,
        config.value_codec,
        config.granularity,
        1,
        hk,
        d,
    );
    let params = set.layer(0, config.transform).unwrap();
    let mut storage = LayerStorage::paged(&gpu, &params, window, 16, 40, 2).unwrap();
    let mut cpu = ReferenceKvCache::new(params, shape, window).unwrap();
    let mut r = rng(6);
    // Sequence 0: 300 tokens (280 coded rows, 18 pages) in slot 1; sequence 1: 40 tokens
    // (20 rows, 2 pages) in slot 0. Pages are the engine's choice, in no order.
    let seqs: [(usize, i32, Vec<i32>); 2] = [
        (300, 1, (0..18).map(|i| 39 - 2 * i).collect()),
        (40, 0, vec![4, 10]),
    ];
    let st = &gpu.stream;
    let up = |v: &[i32]| st.clone_htod(v).unwrap();
    let appender = VqAppend::new(&gpu, &config).unwrap();
    for (b, (len, slot, pages)) in seqs.iter().enumerate() {
        // [1, kv_heads, len, D] f16 for the GPU, token by token for the CPU.
        let mut k_rows = vec![0u16; hk * len * d];
        let mut v_rows = vec![0u16; hk * len * d];
        for t in 0..*len {
            let round = |x: Vec<f32>| -> Vec<f32> {
                x.into_iter().map(|v| f16::from_f32(v).to_f32()).collect()
            };
            let k = round(outlier_keys(&mut r, hk, d));
            let v = round(random_vec(&mut r, hk * d, 1.0));
            for h in 0..hk {
                for e in 0..d {
                    k_rows[(h * len + t) * d + e] = f16::from_f32(k[h * d + e]).to_bits();
                    v_rows[(h * len + t) * d + e] = f16::from_f32(v[h * d + e]).to_bits();
                }
            }
            cpu.append(b, &k, &v).unwrap();
        }
        let (seq_len, seq_slot) = (up(&[*len as i32]), up(&[*slot]));
        let (indptr, indices) = (up(&[0, pages.len() as i32]), up(pages));
        let batch = ExternalBatch {
            seq_len: &seq_len,
            seq_slot: &seq_slot,
            page_indptr: &indptr,
            page_indices: &indices,
            batch: 1,
            max_seq_len: *len,
        };
        let view = CacheViewMut::external(&mut storage, &batch).unwrap();
        appender
            .launch(&gpu, view, &up_u16(st, &k_rows), &up_u16(st, &v_rows), *len)
            .unwrap();
    }
    // Attention over both in one batch of the engine's tables.
    let attention = VqAttention::new(&gpu, &config).unwrap();
    let (seq_len, seq_slot) = (up(&[300, 40]), up(&[1, 0]));
    let indptr = up(&[0, 18, 20]);
    let all_pages: Vec<i32> = seqs.iter().flat_map(|s| s.2.clone()).collect();
    let indices = up(&all_pages);
    let queries = random_vec(&mut r, 2 * shape.q_heads * d, 2.0);
    let (q16, want) = vecinfer_runtime::verify::reference_output(&config, &cpu, &queries).unwrap();
    let query = up_u16(st, &q16.iter().map(|h| h.to_bits()).collect::<Vec<u16>>());
    let attend = |batch: &ExternalBatch<'_>| -> Vec<f32> {
        let mut out = st.alloc_zeros::<u16>(q16.len()).unwrap();
        let view = CacheView::external(&storage, batch).unwrap();
        attention
            .attend(&gpu, view, &query, &mut out, &mut Workspace::default())
            .unwrap();
        st.clone_dtoh(&out)
            .unwrap()
            .into_iter()
            .map(|b| f16::from_bits(b).to_f32())
            .collect()
    };
    let honest = ExternalBatch {
        seq_len: &seq_len,
        seq_slot: &seq_slot,
        page_indptr: &indptr,
        page_indices: &indices,
        batch: 2,
        max_seq_len: 300,
    };
    let got = attend(&honest);
    let mut worst = 0f64;
    for (g, w) in got.chunks_exact(d).zip(want.chunks_exact(d)) {
        let diff: f64 = g
            .iter()
            .zip(w)
            .map(|(a, b)| ((a - b) as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        let norm: f64 = w.iter().map(|b| (*b as f64).powi(2)).sum::<f64>().sqrt();
        worst = worst.max(diff / norm);
    }
    eprintln!("an engine's own tables: attention worst rel err {worst:.2e}");
    assert!(worst <= TOLERANCE, "{worst}");
    // An engine that knows its lengths plans the ragged batch itself (README, "Ragged batches
    // and split plans"): the same answer.
    let coded: Vec<usize> = [300, 40]
        .iter()
        .map(|&n| storage.spec().coded_tokens(n))
        .collect();
    let plan = attention.plan_for_lengths(&gpu, hk, &coded);
    let mut out = st.alloc_zeros::<u16>(q16.len()).unwrap();
    let view = CacheView::external(&storage, &honest).unwrap();
    attention
        .attend_with_plan(
            &gpu,
            view,
            &query,
            &mut out,
            &mut Workspace::default(),
            &plan,
        )
        .unwrap();
    let planned: Vec<f32> = st
        .clone_dtoh(&out)
        .unwrap()
        .into_iter()
        .map(|b| f16::from_bits(b).to_f32())
        .collect();
    let same = planned
        .iter()
        .zip(&got)
        .all(|(a, b)| (a - b).abs() <= 1e-3 * b.abs().max(1.0));
    assert!(same, "plan_for_lengths ({plan:?}) over the engine's tables");
    // Lying tables: memcheck watches this launch.
    let (bad_pages, bad_indptr) = (up(&[7, 99, -5, 4, 1 << 30]), up(&[-3, 40, 2]));
    let bad_len = up(&[1 << 30, -7]);
    let lying = ExternalBatch {
        seq_len: &bad_len,
        seq_slot: &up(&[5, -1]),
        page_indptr: &bad_indptr,
        page_indices: &bad_pages,
        batch: 2,
        max_seq_len: 300,
    };
    attend(&lying);
    // A bound of 40 tokens plans one tile per sequence: sequence 0's 280 rows are not covered.
    let understated = ExternalBatch {
        max_seq_len: 40,
        ..honest
    };
    let poisoned = attend(&understated);
    let row = shape.q_heads * d;
    assert!(
        poisoned[..row].iter().all(|x| x.is_nan()),
        "a sequence longer than max_seq_len must give NaN"
    );
    let close = poisoned[row..]
        .iter()
        .zip(&got[row..])
        .all(|(a, b)| (a - b).abs() <= 1e-3 * b.abs().max(1.0));
    assert!(close, "the covered sequence keeps its answer");
}

fn up_u16(
    st: &std::sync::Arc<cudarc::driver::CudaStream>,
    v: &[u16],
) -> cudarc::driver::CudaSlice<u16> {
    st.clone_htod(v).unwrap()
}

/// The window flush (`PagedKvCache::flush_window`: the tokens leaving the fp16 windows of every
/// layer encoded in one launch), with the new tokens put into their fp16 slots directly (as the
/// engine's QKV projection writes them, here by a host copy), leaves every layer's codes and
/// fp16 slots byte for byte as the per-layer append does. Both flush versions (a warp per row
/// where both books fit registers, a block per row for 4096-entry books), head dims 64 and
/// 128, per-head and per-layer books, each key transform, 11 sequences (more than one block of
/// the warp version) of ragged lengths, sinks and a ring, 2 layers.
#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release -- --ignored with VECINFER_REQUIRE_GPU=1"]
fn the_window_flush_leaves_the_appends_bytes() {
    let Some(gpu) = gpu_or_skip() else { return };
    let cases = [
        (
            64,
            3,
            "d4b8",
            "d4b8",
            Granularity::Layer,
            KeyTransform::BOTH,
        ),
        (
            128,
            4,
            "d4b8",
            "d2b8",
            Granularity::Head,
            KeyTransform::SMOOTH,
        ),
        (
            128,
            4,
            "d8b12",
            "d8b8",
            Granularity::Layer,
            KeyTransform::BOTH,
        ),
        (
            64,
            1,
            "d4b8",
            "d8b12",
            Granularity::Layer,
            KeyTransform::NONE,
        ),
    ];
    let (layers, kv_heads, sequences, page_tokens) = (2, 2, 11, 16);
    let window = CacheLayout {
        sinks: 2,
        residual: 5,
        ..CacheLayout::default()
    };
    for (d, group, k, v, granularity, transform) in cases {
        let set = vecinfer_tests::random_codebook_set(7, k, v, granularity, layers, kv_heads, d);
        let options = PagedCacheOptions {
            page_tokens,
            pool: PoolSize::Pages(sequences * 8),
            max_sequences: sequences,
            window,
            shuffle_seed: Some(3),
        };
        let mut appended = PagedKvCache::from_codebooks(&gpu, &set, transform, options).unwrap();
        let mut flushed = PagedKvCache::from_codebooks(&gpu, &set, transform, options).unwrap();
        let config = KernelConfig {
            granularity,
            transform,
            layout: CodeLayout::Paged { page_tokens },
            ..KernelConfig::default_for(d, group, k.parse().unwrap(), v.parse().unwrap())
        };
        let appender = VqAppend::new(&gpu, &config).unwrap();
        let flush = vecinfer_runtime::VqFlush::new(&gpu, &config).unwrap();
        let mut rng = rng(11);
        let ids: Vec<SequenceId> = (0..sequences)
            .map(|_| {
                let a = appended.add_sequence().unwrap();
                let f = flushed.add_sequence().unwrap();
                assert_eq!(a, f);
                a
            })
            .collect();
        // Ragged prompts (0 to 10 tokens, some inside the sinks), through the append in both.
        for (i, &id) in ids.iter().enumerate() {
            let count = i % 11;
            if count == 0 {
                continue;
            }
            let n = kv_heads * count * d;
            let (keys, values) = (
                outlier_keys(&mut rng, kv_heads * count, d),
                random_vec(&mut rng, n, 1.0),
            );
            let (keys, values) = (to_device(&gpu, &keys), to_device(&gpu, &values));
            for cache in [&mut appended, &mut flushed] {
                let step = cache.begin_step(&gpu, &[id], count).unwrap();
                for layer in 0..layers {
                    cache
                        .append(&gpu, &appender, &step, layer, &keys, &values)
                        .unwrap();
                }
            }
        }
        // Decode steps: the append per layer in one cache; the flush, then the new tokens
        // copied into their slots, in the other.
        for _ in 0..12 {
            let n = sequences * kv_heads * d;
            let step_a = appended.begin_step(&gpu, &ids, 1).unwrap();
            let step_f = flushed.begin_step(&gpu, &ids, 1).unwrap();
            flushed.flush_window(&gpu, &flush, &step_f).unwrap();
            for layer in 0..layers {
                let keys = outlier_keys(&mut rng, sequences * kv_heads, d);
                let values = random_vec(&mut rng, n, 1.0);
                let (kd, vd) = (to_device(&gpu, &keys), to_device(&gpu, &values));
                appended
                    .append(&gpu, &appender, &step_a, layer, &kd, &vd)
                    .unwrap();
                for (b, &id) in ids.iter().enumerate() {
                    let position = flushed.len(id).unwrap() - 1;
                    let index = if position < window.sinks {
                        position
                    } else {
                        window.sinks + (position - window.sinks) % window.residual
                    };
                    let slot = flushed.table().slot(id).unwrap();
                    let mut c = flushed.contents_mut(layer).unwrap();
                    for h in 0..kv_heads {
                        let at =
                            ((slot * kv_heads + h) * (window.sinks + window.residual) + index) * d;
                        let from = (b * kv_heads + h) * d;
                        let halves = |x: &[f32]| {
                            x[from..from + d]
                                .iter()
                                .map(|&a| f16::from_f32(a).to_bits())
                                .collect::<Vec<u16>>()
                        };
                        gpu.stream
                            .memcpy_htod(&halves(&keys), &mut c.slot_keys.slice_mut(at..at + d))
                            .unwrap();
                        gpu.stream
                            .memcpy_htod(&halves(&values), &mut c.slot_values.slice_mut(at..at + d))
                            .unwrap();
                    }
                }
            }
        }
        for layer in 0..layers {
            for &id in &ids {
                for h in 0..kv_heads {
                    let what = format!(
                        "{k}/{v} d{d} {granularity:?}, layer {layer}, sequence {id:?}, head {h}"
                    );
                    assert_eq!(
                        appended.download_rows(&gpu, layer, id, h).unwrap(),
                        flushed.download_rows(&gpu, layer, id, h).unwrap(),
                        "codes: {what}"
                    );
                    assert_eq!(
                        appended.download_fp16(&gpu, layer, id, h).unwrap(),
                        flushed.download_fp16(&gpu, layer, id, h).unwrap(),
                        "fp16 slots: {what}"
                    );
                }
            }
        }
        eprintln!(
            "{k}/{v} d{d} g{group} {granularity:?} {}: identical",
            transform.name()
        );
    }
}

/// `[rows, head_dim]` f32 values as the f16 device buffer the append takes.
fn to_device(gpu: &Gpu, values: &[f32]) -> cudarc::driver::CudaSlice<u16> {
    let halves: Vec<u16> = values.iter().map(|&x| f16::from_f32(x).to_bits()).collect();
    gpu.stream.clone_htod(&halves).unwrap()
}

/// The bench's ragged caches (`random_with_lengths`): every sequence as long as asked in both
/// layouts, the same bytes a step, attention over them finite; a length list for another batch
/// size is a typed error.
#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release -- --ignored with VECINFER_REQUIRE_GPU=1"]
fn random_caches_take_a_length_per_sequence() {
    let Some(gpu) = gpu_or_skip() else { return };
    let paged = configs()[1];
    let contiguous = KernelConfig {
        layout: CodeLayout::Contiguous,
        ..paged
    };
    let shape = DecodeShape {
        batch: 5,
        q_heads: 8,
        kv_heads: 2,
        head_dim: 128,
    };
    let lengths = [300, 0, 7, 1000, 129];
    let residual = 128;
    let p = PagedKvCache::random_with_lengths(&gpu, shape, &paged, (&lengths, residual, 10), 3)
        .unwrap();
    let got: Vec<usize> = p.table().sequences().map(|id| p.len(id).unwrap()).collect();
    assert_eq!(got, lengths);
    let c = GpuKvCache::random_with_lengths(&gpu, shape, &contiguous, (&lengths, residual, 10), 3)
        .unwrap();
    assert_eq!(c.lengths(), lengths);
    assert_eq!(p.bytes_per_step(&paged), c.bytes_per_step(&contiguous));
    let elements = shape.batch * shape.q_heads * shape.head_dim;
    let query = to_device(&gpu, &vec![0.5; elements]);
    for (config, view) in [(paged, p.timing_view().unwrap()), (contiguous, c.view())] {
        let kernel = VqAttention::new(&gpu, &config).unwrap();
        let mut out = gpu.stream.alloc_zeros::<u16>(elements).unwrap();
        kernel
            .attend(&gpu, view, &query, &mut out, &mut Workspace::default())
            .unwrap();
        let out = gpu.stream.clone_dtoh(&out).unwrap();
        assert!(
            out.iter().all(|&h| f16::from_bits(h).is_finite()),
            "{config}: a non-finite output"
        );
    }
    let Err(err) =
        PagedKvCache::random_with_lengths(&gpu, shape, &paged, (&lengths[..4], residual, 0), 3)
    else {
        panic!("4 lengths for a batch of 5 were taken");
    };
    assert!(
        matches!(&err, RuntimeError::Invalid(m) if m.contains("4 sequence lengths for a batch of 5")),
        "{err}"
    );
}
