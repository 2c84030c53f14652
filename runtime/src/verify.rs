//! A kernel config against the CPU reference on fresh random data.

use crate::attention::{SplitPlan, VqAttention, Workspace};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::one_layer::OneLayerCache;
use crate::view::CacheView;
use half::{bf16, f16};
use vecinfer_codegen::{BookFormat, KernelConfig, OutputDtype};
use vecinfer_quant::synthetic::{outlier_keys, random_codebook_set, random_vec, rng};
use vecinfer_quant::{CacheLayout, CodebookSet, DecodeShape, ReferenceKvCache};

/// fp16 NaN (and bf16 NaN): written to the output before a run so an unwritten element shows.
pub const POISON: u16 = 0x7e00;

/// A random case: `kv_heads` KV heads, one sequence per entry of `lengths`.
#[derive(Clone, Debug)]
pub struct RandomCase {
    pub kv_heads: usize,
    pub lengths: Vec<usize>,
    pub layout: CacheLayout,
    pub seed: u64,
}

/// One layer of random codebooks for `config`'s codecs and granularity. An e4m3 key-book
/// kernel runs on books of e4m3 values only (`CacheSpec::check`), so for one the key books are
/// rounded (`Codebook::to_e4m3`): a reference built on them searches and decodes the same
/// centroids.
pub fn random_books(
    config: &KernelConfig,
    kv_heads: usize,
    head_dim: usize,
    seed: u64,
) -> CodebookSet {
    let mut set = random_codebook_set(
        seed,
        config.key_codec,
        config.value_codec,
        config.granularity,
        1,
        kv_heads,
        head_dim,
    );
    if config.key_book == BookFormat::E4m3 {
        set.round_keys_to_e4m3();
    }
    set
}

/// The worst relative error `‖gpu − cpu‖ / ‖cpu‖` over (sequence, query head), comparing in
/// the output dtype. An output element left unwritten gives infinity.
pub fn worst_relative_error(gpu: &Gpu, config: &KernelConfig, case: &RandomCase) -> Result<f64> {
    let check = VerifyCase::new(gpu, config, case)?;
    check.worst_error(gpu, &VqAttention::new(gpu, config)?)
}

/// A random case on the GPU with the CPU reference's answer, built once and checked against
/// any kernel of the same head dim, group, codecs, granularity, transform, layout and output
/// dtype. A case built for an e4m3 key-book config serves kernels of either format; one built
/// for f16 serves f16 kernels only (the tuner verifies every candidate with one). A paged case scatters its pages in a
/// random order.
pub struct VerifyCase {
    cache: OneLayerCache,
    q16: Vec<f16>,
    want: Vec<f32>,
    config: KernelConfig,
}

impl VerifyCase {
    pub fn new(gpu: &Gpu, config: &KernelConfig, case: &RandomCase) -> Result<Self> {
        let d = config.head_dim;
        let shape = DecodeShape {
            batch: case.lengths.len(),
            q_heads: case.kv_heads * config.group,
            kv_heads: case.kv_heads,
            head_dim: d,
        };
        let set = random_books(config, case.kv_heads, d, case.seed);
        let mut cpu = ReferenceKvCache::new(set.layer(0, config.transform)?, shape, case.layout)?;
        let mut r = rng(case.seed);
        for (seq, &len) in case.lengths.iter().enumerate() {
            for _ in 0..len {
                let k = outlier_keys(&mut r, case.kv_heads, d);
                let v = random_vec(&mut r, case.kv_heads * d, 1.0);
                cpu.append(seq, &k, &v)?;
            }
        }
        let queries = random_vec(&mut r, shape.batch * shape.q_heads * d, 2.0);
        let (q16, want) = reference_answer(config, &cpu, &queries)?;
        Ok(Self {
            cache: OneLayerCache::from_reference(gpu, &cpu, config.layout, case.seed, 0)?,
            q16,
            want,
            config: *config,
        })
    }

    /// The case's cache, for launches a test makes itself (e.g. inside a CUDA graph capture).
    pub fn view(&self) -> Result<CacheView<'_>> {
        self.cache.view()
    }

    /// The case's queries as fp16 bits, `[batch, q_heads, head_dim]`.
    pub fn query_bits(&self) -> Vec<u16> {
        self.q16.iter().map(|h| h.to_bits()).collect()
    }

    /// The worst relative error of `bits`, an output of the case's kernel, against the CPU
    /// reference; infinity for a non-finite element.
    pub fn error_of(&self, bits: &[u16]) -> f64 {
        output_error(&self.config, bits, &self.want)
    }

    /// The kernel's worst relative error on this case; an error if the kernel is for another
    /// method or shape than the case.
    pub fn worst_error(&self, gpu: &Gpu, kernel: &VqAttention) -> Result<f64> {
        self.check_kernel(kernel)?;
        kernel_error(gpu, kernel, self.cache.view()?, &self.q16, &self.want, None)
    }

    /// [`Self::worst_error`] with the launch planned for a longest sequence of `planned_coded`
    /// coded rows (at least the case's), as an engine plans a CUDA graph for the longest length
    /// it will reach: pieces past the sequences' rows then idle.
    pub fn worst_error_planned(
        &self,
        gpu: &Gpu,
        kernel: &VqAttention,
        planned_coded: usize,
    ) -> Result<f64> {
        self.check_kernel(kernel)?;
        let view = self.cache.view()?;
        let (batch, kv_heads) = (view.batch(), view.storage().spec().kv_heads);
        let plan = kernel.plan_for(
            gpu,
            batch,
            kv_heads,
            planned_coded.max(view.longest_coded()),
        );
        kernel_error(gpu, kernel, view, &self.q16, &self.want, Some(plan))
    }

    /// [`Self::worst_error`] of launches with `plan` (e.g. [`VqAttention::plan_for_lengths`]
    /// for lengths a captured launch will reach).
    pub fn worst_error_with_plan(
        &self,
        gpu: &Gpu,
        kernel: &VqAttention,
        plan: SplitPlan,
    ) -> Result<f64> {
        self.check_kernel(kernel)?;
        kernel_error(
            gpu,
            kernel,
            self.cache.view()?,
            &self.q16,
            &self.want,
            Some(plan),
        )
    }

    fn check_kernel(&self, kernel: &VqAttention) -> Result<()> {
        let (a, b) = (&self.config, &kernel.kernel.config);
        let same = (a.head_dim, a.group, a.key_codec, a.value_codec)
            == (b.head_dim, b.group, b.key_codec, b.value_codec)
            && (a.granularity, a.transform, a.output, a.layout, a.window)
                == (b.granularity, b.transform, b.output, b.layout, b.window);
        if !same {
            return Err(crate::RuntimeError::Invalid(format!(
                "verification case for {a} cannot check kernel {b}: head dim, group, codecs, granularity, transform, layout, window precision and output must match"
            )));
        }
        Ok(())
    }
}

/// The queries rounded to fp16 and the CPU's answer for them, rounded to the output dtype.
fn reference_answer(
    config: &KernelConfig,
    cpu: &ReferenceKvCache<'_>,
    queries: &[f32],
) -> Result<(Vec<f16>, Vec<f32>)> {
    let q16: Vec<f16> = queries.iter().map(|&x| f16::from_f32(x)).collect();
    let q32: Vec<f32> = q16.iter().map(|h| h.to_f32()).collect();
    let round = |x: f32| match config.output {
        OutputDtype::F16 => f16::from_f32(x).to_f32(),
        OutputDtype::Bf16 => bf16::from_f32(x).to_f32(),
    };
    let want = cpu.attend(&q32)?.into_iter().map(round).collect();
    Ok((q16, want))
}

/// Runs `config` on a GPU copy of `cpu` (in the config's layout) and returns the worst
/// relative error against the CPU reference over (sequence, query head), in the output dtype.
/// `queries` (`[batch, q_heads, head_dim]`) are rounded to fp16 for both sides. An unwritten
/// output element gives infinity.
pub fn compare_with_reference(
    gpu: &Gpu,
    config: &KernelConfig,
    cpu: &ReferenceKvCache<'_>,
    queries: &[f32],
) -> Result<f64> {
    let (q16, want) = reference_answer(config, cpu, queries)?;
    let cache = OneLayerCache::from_reference(gpu, cpu, config.layout, 7, 0)?;
    compare_cache_with_reference(gpu, config, cache.view()?, &q16, &want)
}

/// Attention of `config` over `cache` against the CPU's answer `want` (in the output dtype)
/// for the fp16 queries `q16`; the worst relative error over (sequence, query head).
pub fn compare_cache_with_reference<'a>(
    gpu: &Gpu,
    config: &KernelConfig,
    cache: impl Into<CacheView<'a>>,
    q16: &[f16],
    want: &[f32],
) -> Result<f64> {
    kernel_error(
        gpu,
        &VqAttention::new(gpu, config)?,
        cache.into(),
        q16,
        want,
        None,
    )
}

/// The CPU reference's answer for `queries`, rounded as the kernel's output is (for checks of
/// caches filled by the GPU append).
pub fn reference_output(
    config: &KernelConfig,
    cpu: &ReferenceKvCache<'_>,
    queries: &[f32],
) -> Result<(Vec<f16>, Vec<f32>)> {
    reference_answer(config, cpu, queries)
}

/// Launches of each checked kernel over one workspace (see `kernel_error`).
const LAUNCHES: usize = 3;

fn kernel_error(
    gpu: &Gpu,
    kernel: &VqAttention,
    cache: CacheView<'_>,
    q16: &[f16],
    want: &[f32],
    plan: Option<SplitPlan>,
) -> Result<f64> {
    let config = &kernel.kernel.config;
    // `attend`'s own plan unless one is given.
    let plan = plan.unwrap_or_else(|| kernel.plan(gpu, &cache));
    let query = gpu
        .stream
        .clone_htod(&q16.iter().map(|h| h.to_bits()).collect::<Vec<u16>>())?;
    // Three launches over one workspace, its partials poisoned (NaN) before each: every launch
    // must write every split its merge reads. The worst error over the launches counts.
    // (Outputs may differ in the last bits: the CUDA-core kernels sum lanes with atomics.)
    let mut workspace = Workspace::default();
    let mut worst = 0f64;
    for _ in 0..LAUNCHES {
        workspace.poison_partials(gpu)?;
        let mut out = gpu.stream.clone_htod(&vec![POISON; q16.len()])?;
        kernel.attend_with_plan(
            gpu,
            cache.reborrow(),
            &query,
            &mut out,
            &mut workspace,
            &plan,
        )?;
        worst = worst.max(output_error(config, &gpu.stream.clone_dtoh(&out)?, want));
    }
    Ok(worst)
}

/// The worst relative error of `bits` (the kernel's output) against `want` over (sequence,
/// query head); infinity for a non-finite output element.
fn output_error(config: &KernelConfig, bits: &[u16], want: &[f32]) -> f64 {
    let d = config.head_dim;
    let got: Vec<f32> = bits
        .iter()
        .map(|&b| match config.output {
            OutputDtype::F16 => f16::from_bits(b).to_f32(),
            OutputDtype::Bf16 => bf16::from_bits(b).to_f32(),
        })
        .collect();
    if got.iter().any(|v| !v.is_finite()) {
        return f64::INFINITY;
    }
    let mut worst = 0f64;
    for (g, w) in got.chunks_exact(d).zip(want.chunks_exact(d)) {
        let diff: f64 = g
            .iter()
            .zip(w)
            .map(|(a, b)| ((a - b) as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        let norm: f64 = w.iter().map(|b| (*b as f64).powi(2)).sum::<f64>().sqrt();
        worst = worst.max(diff / norm.max(1e-20));
    }
    worst
}
