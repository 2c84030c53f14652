//! What the GPU tests read back from a cache of either layout, per batch entry, to compare it
//! with the CPU reference.

use half::f16;
use vecinfer_codegen::{KernelConfig, OutputDtype};
use vecinfer_quant::ReferenceKvCache;
use vecinfer_quant::synthetic::{random_vec, rng};
use vecinfer_runtime::dependent_launch::supports_dependent_launches;
use vecinfer_runtime::verify::{POISON, reference_output};
use vecinfer_runtime::{
    CacheView, Gpu, GpuKvCache, PagedKvCache, SequenceId, Step, VqAttention, Workspace,
};

pub trait Readback {
    /// Tokens of batch entry `seq`.
    fn len(&self, seq: usize) -> usize;
    /// Its coded rows of KV head `h`, keys and values, in token order.
    fn rows(&self, gpu: &Gpu, seq: usize, h: usize) -> (Vec<u8>, Vec<u8>);
    /// Its fp16 slots of KV head `h`, keys and values, `[sinks + residual, head_dim]`.
    fn fp16(&self, gpu: &Gpu, seq: usize, h: usize) -> (Vec<u16>, Vec<u16>);
    /// What attention reads (the whole batch).
    fn view(&self) -> CacheView<'_>;
}

impl Readback for GpuKvCache {
    fn len(&self, seq: usize) -> usize {
        GpuKvCache::len(self, seq)
    }
    fn rows(&self, gpu: &Gpu, seq: usize, h: usize) -> (Vec<u8>, Vec<u8>) {
        self.download_rows(gpu, seq, h).unwrap()
    }
    fn fp16(&self, gpu: &Gpu, seq: usize, h: usize) -> (Vec<u16>, Vec<u16>) {
        self.download_fp16(gpu, seq, h).unwrap()
    }
    fn view(&self) -> CacheView<'_> {
        GpuKvCache::view(self)
    }
}

/// One layer of a paged cache and a batch of its sequences (entry `b` is `ids[b]`), with the
/// step whose tables attention reads.
pub struct PagedBatch {
    pub cache: PagedKvCache,
    pub ids: Vec<SequenceId>,
    pub step: Step,
}

impl Readback for PagedBatch {
    fn len(&self, seq: usize) -> usize {
        self.cache.len(self.ids[seq]).unwrap()
    }
    fn rows(&self, gpu: &Gpu, seq: usize, h: usize) -> (Vec<u8>, Vec<u8>) {
        self.cache.download_rows(gpu, 0, self.ids[seq], h).unwrap()
    }
    fn fp16(&self, gpu: &Gpu, seq: usize, h: usize) -> (Vec<u16>, Vec<u16>) {
        self.cache.download_fp16(gpu, 0, self.ids[seq], h).unwrap()
    }
    fn view(&self) -> CacheView<'_> {
        self.cache.view(&self.step, 0).unwrap()
    }
}

/// Batch entry `b` of `cache` against sequence `lanes[b]` of `cpu`: lengths, codes byte for
/// byte, fp16 sinks and window slot for slot (keys and values); then attention over the whole
/// batch against the reference within `tolerance` (worst relative error per query head; an
/// empty sequence must give exact zeros).
#[allow(clippy::too_many_arguments)]
pub fn assert_matches_reference(
    gpu: &Gpu,
    config: &KernelConfig,
    cache: &dyn Readback,
    cpu: &ReferenceKvCache<'_>,
    lanes: &[usize],
    what: &str,
    seed: u64,
    tolerance: f64,
) {
    let s = cpu.shape();
    let (hk, d) = (s.kv_heads, s.head_dim);
    let (krow, vrow) = (config.key_row_bytes(), config.value_row_bytes());
    for (entry, &seq) in lanes.iter().enumerate() {
        let coded = cpu.quantized_len(seq);
        assert_eq!(
            cache.len(entry),
            cpu.len(seq),
            "{what}: length of entry {entry}"
        );
        for h in 0..hk {
            let (gk, gv) = cache.rows(gpu, entry, h);
            assert_eq!(gk.len(), coded * krow, "{what}: key rows of entry {entry}");
            assert_eq!(
                gv.len(),
                coded * vrow,
                "{what}: value rows of entry {entry}"
            );
            for (row, (g, c)) in gk
                .chunks(krow)
                .zip(cpu.key_codes(seq, h).chunks(krow))
                .enumerate()
            {
                assert_eq!(
                    g, c,
                    "{what}: key codes of entry {entry} head {h} row {row}"
                );
            }
            for (row, (g, c)) in gv
                .chunks(vrow)
                .zip(cpu.value_codes(seq, h).chunks(vrow))
                .enumerate()
            {
                assert_eq!(
                    g, c,
                    "{what}: value codes of entry {entry} head {h} row {row}"
                );
            }
            let sinks = cpu.sink_len(seq);
            let (fp16_keys, fp16_values) = cache.fp16(gpu, entry, h);
            let bits = |x: Vec<f16>| x.iter().map(|v| v.to_bits()).collect::<Vec<u16>>();
            let (cpu_keys, cpu_values) =
                (bits(cpu.fp16_keys(seq, h)), bits(cpu.fp16_values(seq, h)));
            for (n, (want_k, want_v)) in cpu_keys
                .chunks_exact(d)
                .zip(cpu_values.chunks_exact(d))
                .enumerate()
            {
                let at = cache.view().storage().spec().fp16_slot(n, sinks, coded);
                assert_eq!(
                    &fp16_keys[at * d..][..d],
                    want_k,
                    "{what}: fp16 key {n} of entry {entry} head {h}"
                );
                assert_eq!(
                    &fp16_values[at * d..][..d],
                    want_v,
                    "{what}: fp16 value {n} of entry {entry} head {h}"
                );
            }
        }
    }
    // Attention: queries for every CPU sequence, the batch's rows picked out.
    let mut r = rng(seed);
    let queries = random_vec(&mut r, s.batch * s.q_heads * d, 2.0);
    let (q16_all, want_all) = reference_output(config, cpu, &queries).unwrap();
    let row = s.q_heads * d;
    let pick = |all: &[f32]| -> Vec<f32> {
        lanes
            .iter()
            .flat_map(|&l| all[l * row..(l + 1) * row].to_vec())
            .collect()
    };
    let q16: Vec<u16> = lanes
        .iter()
        .flat_map(|&l| q16_all[l * row..(l + 1) * row].iter().map(|h| h.to_bits()))
        .collect();
    let want = pick(&want_all);
    let mut kernel = VqAttention::new(gpu, config).unwrap();
    // Odd seeds launch the attention and its merge as programmatic dependents (sm_90), the way
    // the engine does: the same answer either way.
    let dependent = seed % 2 == 1 && supports_dependent_launches(gpu.arch);
    kernel.set_dependent_launches(gpu, dependent).unwrap();
    let query = gpu.stream.clone_htod(&q16).unwrap();
    let mut out = gpu.stream.clone_htod(&vec![POISON; q16.len()]).unwrap();
    kernel
        .attend(
            gpu,
            cache.view(),
            &query,
            &mut out,
            &mut Workspace::default(),
        )
        .unwrap();
    let got: Vec<f32> = gpu
        .stream
        .clone_dtoh(&out)
        .unwrap()
        .into_iter()
        .map(|b| match config.output {
            OutputDtype::F16 => f16::from_bits(b).to_f32(),
            OutputDtype::Bf16 => half::bf16::from_bits(b).to_f32(),
        })
        .collect();
    let mut worst = 0f64;
    for (i, (g, w)) in got.chunks_exact(d).zip(want.chunks_exact(d)).enumerate() {
        let entry = i / s.q_heads;
        if cpu.is_empty(lanes[entry]) {
            assert!(
                g.iter().all(|&x| x == 0.0),
                "{what}: entry {entry} is empty, output {g:?}"
            );
            continue;
        }
        let diff = g
            .iter()
            .zip(w)
            .map(|(a, b)| ((a - b) as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        let norm = w.iter().map(|b| (*b as f64).powi(2)).sum::<f64>().sqrt();
        let err = diff / norm.max(1e-20);
        assert!(err.is_finite(), "{what}: entry {entry} output {g:?}");
        worst = worst.max(err);
    }
    eprintln!(
        "{what}: codes, fp16 slots and lengths identical; attention worst rel err {worst:.2e}{}",
        if dependent {
            " (dependent launches)"
        } else {
            ""
        }
    );
    assert!(worst <= tolerance, "{what}: attention error {worst}");
}
