//! The measuring half of the tuner: compile every candidate in parallel, prune by the compiled
//! module's resources, verify each against the CPU reference before timing it, time with CUDA
//! events over rotating caches (so no run finds the last one's bytes in L2), and re-measure
//! close calls before naming a winner.

use crate::key::{KernelShape, TuneKey};
use crate::space::{PruneRules, Resources, SearchSpace};
use crate::store::{
    CandidateResult, CandidateStatus, DeviceFingerprint, Measured, Stats, TunedEntry,
    codegen_fingerprint,
};
use crate::strategy::{Budget, Strategy, neighbours, search, warm_starts};
use cudarc::driver::CudaSlice;
use rayon::prelude::*;
use std::collections::HashMap;
use std::time::Instant;
use vecinfer_codegen::{CodeLayout, KernelConfig, emit};
use vecinfer_quant::{CacheLayout, DecodeShape};
use vecinfer_runtime::verify::{RandomCase, VerifyCase};
use vecinfer_runtime::{
    Gpu, OneLayerCache, Result, RuntimeError, Timer, VqAttention, Workspace, compile, nvrtc_version,
};

/// The device, driver, NVRTC and code generator this process tunes with.
pub fn fingerprint(gpu: &Gpu) -> Result<DeviceFingerprint> {
    let nvrtc = nvrtc_version()?;
    Ok(DeviceFingerprint {
        name: gpu.name.clone(),
        compute_capability: format!("{}.{}", gpu.compute_capability.0, gpu.compute_capability.1),
        sm_count: gpu.sm_count,
        driver: format!("{}.{}", gpu.driver_version.0, gpu.driver_version.1),
        nvrtc: format!("{}.{}", nvrtc.0, nvrtc.1),
        crate_version: env!("CARGO_PKG_VERSION").to_string(),
        codegen: codegen_fingerprint(),
    })
}

/// How to tune one key.
#[derive(Clone, Debug)]
pub struct TuneOptions {
    pub space: SearchSpace,
    pub strategy: Strategy,
    pub budget: Budget,
    pub rules: PruneRules,
    /// KV heads of the timed shape (query heads follow from the group).
    pub kv_heads: usize,
    /// Newest tokens per sequence in fp16 in the timed cache.
    pub residual: usize,
    pub warmup: usize,
    pub runs: usize,
    /// Worst relative error against the CPU reference a candidate may have.
    pub tolerance: f64,
    /// Candidates within this fraction of the best are re-measured before a winner is named.
    pub close_call: f64,
}

impl Default for TuneOptions {
    fn default() -> Self {
        Self {
            space: SearchSpace::default(),
            strategy: Strategy::Guided,
            budget: Budget::Unlimited,
            rules: PruneRules::default(),
            kv_heads: 8,
            residual: vecinfer_quant::method::DEFAULT_RESIDUAL,
            warmup: 3,
            runs: 20,
            tolerance: 2e-3,
            close_call: 0.03,
        }
    }
}

/// What the tuner reports while it works.
#[derive(Clone, Debug)]
pub enum Progress {
    /// Compiling and loading `count` candidates of a kernel shape.
    Compiling { shape: KernelShape, count: usize },
    /// A candidate was evaluated (or taken from the file being resumed).
    Evaluated {
        key: TuneKey,
        done: usize,
        /// What the budget allows, or the space size.
        planned: usize,
        best_ms: Option<f64>,
    },
}

enum Prepared {
    Ready(Box<VqAttention>, Resources),
    Failed(CandidateStatus),
}

/// A tuning session on one GPU: compiled kernels and verification results are kept across
/// keys (they depend on the config, not the batch or sequence length).
pub struct Tuner<'g> {
    gpu: &'g Gpu,
    pub fingerprint: DeviceFingerprint,
    prepared: HashMap<KernelConfig, Prepared>,
    verified: HashMap<KernelConfig, std::result::Result<f64, String>>,
    cases: HashMap<KernelShape, VerifyCase>,
}

/// The same config without a launch bound.
fn unbounded(c: &KernelConfig) -> KernelConfig {
    KernelConfig {
        min_blocks_per_sm: 0,
        ..*c
    }
}

/// An error's text without the generated source (NVRTC failures carry the log).
fn short_error(e: &RuntimeError) -> String {
    match e {
        RuntimeError::Compile { log, arch, .. } => format!("NVRTC ({arch}): {log}"),
        other => other.to_string(),
    }
}

impl<'g> Tuner<'g> {
    pub fn new(gpu: &'g Gpu) -> Result<Self> {
        Ok(Self {
            gpu,
            fingerprint: fingerprint(gpu)?,
            prepared: HashMap::new(),
            verified: HashMap::new(),
            cases: HashMap::new(),
        })
    }

    /// Compiles the configs not yet prepared, NVRTC in parallel threads, then loads each
    /// module and reads its resources. Failures are recorded per candidate.
    fn prepare(&mut self, configs: &[KernelConfig]) {
        // A bounded config's unbounded twin too: `screen` compares their registers.
        let mut todo: Vec<KernelConfig> = Vec::new();
        for c in configs.iter().flat_map(|c| [*c, unbounded(c)]) {
            if !self.prepared.contains_key(&c) && !todo.contains(&c) {
                todo.push(c);
            }
        }
        let arch = self.gpu.arch;
        let compiled: Vec<(KernelConfig, Option<CandidateStatus>)> = todo
            .par_iter()
            .map(|c| {
                let failure = emit(c, arch)
                    .map_err(|e| CandidateStatus::Invalid {
                        reason: e.to_string(),
                    })
                    .and_then(|k| {
                        compile(&k.source, arch, &k.attention_entry).map_err(|e| {
                            CandidateStatus::CompileFailed {
                                error: short_error(&e),
                            }
                        })
                    })
                    .err();
                (*c, failure)
            })
            .collect();
        let gpu = self.gpu;
        let loaded: Vec<(KernelConfig, Prepared)> = compiled
            .into_par_iter()
            .map(|(c, failure)| {
                if let Some(status) = failure {
                    return (c, Prepared::Failed(status));
                }
                let ready = VqAttention::new(gpu, &c).and_then(|k| {
                    let (registers, spilled_bytes) = k.resources()?;
                    let r = Resources {
                        registers,
                        spilled_bytes,
                        blocks_per_sm: k.blocks_per_sm,
                        warps_per_block: c.warps as u32,
                    };
                    Ok(Prepared::Ready(Box::new(k), r))
                });
                let prepared = ready.unwrap_or_else(|e| {
                    Prepared::Failed(CandidateStatus::LaunchFailed {
                        error: short_error(&e),
                    })
                });
                (c, prepared)
            })
            .collect();
        self.prepared.extend(loaded);
    }

    /// A compiled candidate's result if it cannot be searched (compile or load failure, or
    /// ruled out by its resources), `None` if it can.
    fn screen(
        &self,
        config: &KernelConfig,
        default: &KernelConfig,
        rules: &PruneRules,
    ) -> Option<CandidateResult> {
        match &self.prepared[config] {
            Prepared::Failed(status) => Some(result(*config, status.clone())),
            Prepared::Ready(_, r) => rules
                .prune(r)
                .or_else(|| self.bound_not_worth_timing(config, default, r))
                .map(|reason| CandidateResult {
                    resources: Some(*r),
                    ..result(*config, CandidateStatus::Pruned { reason })
                }),
        }
    }

    /// Why a launch bound is not worth timing: its shared memory keeps the SM below the
    /// bound (the registers were squeezed for nothing), or the compiler met it without giving
    /// up a register (the kernel is its unbounded twin's). The key's default is always timed.
    fn bound_not_worth_timing(
        &self,
        config: &KernelConfig,
        default: &KernelConfig,
        r: &Resources,
    ) -> Option<String> {
        if config.min_blocks_per_sm == 0 || config == default {
            return None;
        }
        if (r.blocks_per_sm as usize) < config.min_blocks_per_sm {
            return Some(format!(
                "the bound asks {} blocks per SM, its shared memory lets {}",
                config.min_blocks_per_sm, r.blocks_per_sm
            ));
        }
        match self.prepared.get(&unbounded(config)) {
            Some(Prepared::Ready(_, twin))
                if twin.registers == r.registers && twin.spilled_bytes == r.spilled_bytes =>
            {
                Some(format!(
                    "the bound of {} blocks per SM changes nothing: {} registers, as without it",
                    config.min_blocks_per_sm, r.registers
                ))
            }
            _ => None,
        }
    }

    /// The worst relative error of `config` on a random case (cached per config).
    fn verify(&mut self, config: &KernelConfig) -> std::result::Result<f64, String> {
        if let Some(v) = self.verified.get(config) {
            return v.clone();
        }
        let shape = KernelShape::of(config);
        let result = (|| {
            if !self.cases.contains_key(&shape) {
                let case = RandomCase {
                    kv_heads: 2,
                    lengths: vec![3, 700, 2500],
                    layout: CacheLayout::default(),
                    seed: 1,
                };
                let built = VerifyCase::new(self.gpu, config, &case).map_err(|e| e.to_string())?;
                self.cases.insert(shape, built);
            }
            let Some(Prepared::Ready(kernel, _)) = self.prepared.get(config) else {
                return Err("not compiled".to_string());
            };
            self.cases[&shape]
                .worst_error(self.gpu, kernel)
                .map_err(|e| short_error(&e))
        })();
        self.verified.insert(*config, result.clone());
        result
    }

    /// Tunes one key: candidates of the space, pruned, searched by the strategy (reusing what
    /// `previous` measured, for a resumed run; starting from the default and the `hints`, e.g.
    /// winners of neighbouring buckets), close calls re-measured. `checkpoint` is given
    /// the entry every few evaluations (incomplete) so an interrupted run can resume.
    pub fn tune(
        &mut self,
        key: TuneKey,
        options: &TuneOptions,
        previous: Option<&TunedEntry>,
        hints: &[KernelConfig],
        progress: &mut dyn FnMut(Progress),
        checkpoint: &mut dyn FnMut(&TunedEntry),
    ) -> Result<TunedEntry> {
        let started = Instant::now();
        let (valid, rejected) = options.space.candidates(&key.shape, self.gpu.arch);
        progress(Progress::Compiling {
            shape: key.shape,
            count: valid.len(),
        });
        let mut entry = TunedEntry {
            key,
            kv_heads: options.kv_heads,
            strategy: options.strategy,
            budget: options.budget,
            complete: false,
            winner: None,
            default: None,
            evaluations: 0,
            space_size: valid.len(),
            rejected: rejected.len(),
            seconds: 0.0,
            candidates: Vec::new(),
            steps: None,
        };
        // Exhaustive search compiles everything up front, in parallel, and searches only what
        // passes the resource rules; the others compile what they visit.
        let default = key.shape.default_config();
        let upfront = options.strategy == Strategy::Exhaustive;
        let searchable = if upfront {
            self.screen_upfront(&valid, &default, &options.rules, &mut entry.candidates)
        } else {
            valid
        };
        let resumed = resumable(previous, &key, options.kv_heads);
        let mut bench = TimingBench::new(self.gpu, &key, options)?;
        let planned = match options.budget {
            Budget::Evaluations(n) => n.min(searchable.len()),
            _ => searchable.len(),
        };
        let mut evaluated: Vec<CandidateResult> = Vec::new();
        let mut fatal: Option<RuntimeError> = None;
        let mut screened: Vec<CandidateResult> = Vec::new();
        let points: Vec<_> = searchable.iter().map(crate::space::coordinates).collect();
        search(
            options.strategy,
            &searchable,
            &warm_starts(&searchable, hints),
            options.budget,
            &mut |i| {
                let config = searchable[i];
                if !upfront {
                    // Compile what the local search will visit next along with it, in parallel.
                    if !self.prepared.contains_key(&config) {
                        let mut batch = vec![config];
                        batch.extend(neighbours(&points, i).into_iter().map(|j| searchable[j]));
                        self.prepare(&batch);
                    }
                    if let Some(r) = self.screen(&config, &default, &options.rules) {
                        screened.push(r);
                        return None;
                    }
                }
                let r = match resumed.get(&config) {
                    Some(r) => r.clone(),
                    None => match self.evaluate(&config, &mut bench, options) {
                        Ok(r) => r,
                        Err(e) => {
                            fatal.get_or_insert(e);
                            return None;
                        }
                    },
                };
                let ms = r.ms();
                evaluated.push(r);
                progress(Progress::Evaluated {
                    key,
                    done: evaluated.len(),
                    planned,
                    best_ms: fastest(&evaluated).map(|m| m.median_ms),
                });
                if evaluated.len().is_multiple_of(10) {
                    let mut partial = entry.clone();
                    partial.candidates.extend(evaluated.iter().cloned());
                    partial.evaluations = evaluated.len();
                    checkpoint(&partial);
                }
                ms
            },
        );
        if let Some(e) = fatal {
            return Err(e);
        }
        self.remeasure_close_calls(&mut evaluated, &mut bench, options)?;
        entry.default = fastest(evaluated.iter().filter(|r| r.config == default));
        entry.winner = fastest(&evaluated);
        entry.evaluations = evaluated.len();
        entry.candidates.append(&mut screened);
        entry.candidates.append(&mut evaluated);
        entry.complete = true;
        entry.seconds = started.elapsed().as_secs_f64()
            + previous.filter(|p| p.key == key).map_or(0.0, |p| p.seconds);
        Ok(entry)
    }

    /// Compiles all of `valid` and keeps what can be searched; the rest goes to `results`
    /// with why.
    fn screen_upfront(
        &mut self,
        valid: &[KernelConfig],
        default: &KernelConfig,
        rules: &PruneRules,
        results: &mut Vec<CandidateResult>,
    ) -> Vec<KernelConfig> {
        self.prepare(valid);
        let mut keep = Vec::new();
        for c in valid {
            match self.screen(c, default, rules) {
                Some(r) => results.push(r),
                None => keep.push(*c),
            }
        }
        keep
    }

    /// Verifies, then times, one candidate. Only failures that leave the GPU unusable are
    /// errors; a wrong or failing candidate is a result.
    fn evaluate(
        &mut self,
        config: &KernelConfig,
        bench: &mut TimingBench,
        options: &TuneOptions,
    ) -> Result<CandidateResult> {
        let resources = match &self.prepared[config] {
            Prepared::Ready(_, r) => Some(*r),
            Prepared::Failed(_) => None,
        };
        let worst = match self.verify(config) {
            Ok(w) => w,
            Err(error) => {
                return Ok(CandidateResult {
                    resources,
                    ..result(*config, CandidateStatus::LaunchFailed { error })
                });
            }
        };
        if worst.is_nan() || worst > options.tolerance {
            return Ok(CandidateResult {
                resources,
                worst_error: Some(worst),
                ..result(
                    *config,
                    CandidateStatus::Wrong {
                        relative_error: worst,
                        tolerance: options.tolerance,
                    },
                )
            });
        }
        let Some(Prepared::Ready(kernel, _)) = self.prepared.get(config) else {
            unreachable!("verified candidates are compiled");
        };
        let stats = bench.time(kernel, options.warmup, options.runs)?;
        Ok(CandidateResult {
            stats: Some(stats),
            resources,
            worst_error: Some(worst),
            ..result(*config, CandidateStatus::Timed)
        })
    }

    /// Candidates within `close_call` of the best are timed again, in interleaved rounds (so
    /// drift hits all alike); their rank is the median of the rounds' medians.
    fn remeasure_close_calls(
        &mut self,
        evaluated: &mut [CandidateResult],
        bench: &mut TimingBench,
        options: &TuneOptions,
    ) -> Result<()> {
        let Some(best) = evaluated
            .iter()
            .filter_map(|r| r.ms())
            .min_by(f64::total_cmp)
        else {
            return Ok(());
        };
        let mut close: Vec<usize> = (0..evaluated.len())
            .filter(|&i| {
                evaluated[i]
                    .ms()
                    .is_some_and(|ms| ms <= best * (1.0 + options.close_call))
            })
            .collect();
        close.sort_by(|&a, &b| {
            evaluated[a]
                .ms()
                .unwrap()
                .total_cmp(&evaluated[b].ms().unwrap())
        });
        close.truncate(6);
        if close.len() < 2 {
            return Ok(());
        }
        const ROUNDS: usize = 3;
        let mut rounds = vec![Vec::with_capacity(ROUNDS); close.len()];
        for _ in 0..ROUNDS {
            for (slot, &i) in close.iter().enumerate() {
                let Some(Prepared::Ready(kernel, _)) = self.prepared.get(&evaluated[i].config)
                else {
                    continue;
                };
                rounds[slot].push(bench.time(kernel, options.warmup, options.runs)?.median_ms);
            }
        }
        for (slot, &i) in close.iter().enumerate() {
            let mut r = rounds[slot].clone();
            r.sort_by(f64::total_cmp);
            evaluated[i].remeasured_ms = r.get(r.len() / 2).copied();
        }
        Ok(())
    }
}

/// What a resumed run can reuse from `previous`: its timed and wrong candidates, when it is
/// the same key measured with the same number of KV heads.
fn resumable(
    previous: Option<&TunedEntry>,
    key: &TuneKey,
    kv_heads: usize,
) -> HashMap<KernelConfig, CandidateResult> {
    previous
        .filter(|p| p.key == *key && p.kv_heads == kv_heads)
        .map(|p| {
            p.candidates
                .iter()
                .filter(|c| {
                    matches!(
                        c.status,
                        CandidateStatus::Timed | CandidateStatus::Wrong { .. }
                    )
                })
                .map(|c| (c.config, c.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// The fastest timed candidate (re-measured time where there is one).
fn fastest<'a>(results: impl IntoIterator<Item = &'a CandidateResult>) -> Option<Measured> {
    results
        .into_iter()
        .filter_map(|r| {
            r.ms().map(|ms| Measured {
                config: r.config,
                median_ms: ms,
            })
        })
        .min_by(|a, b| a.median_ms.total_cmp(&b.median_ms))
}

fn result(config: KernelConfig, status: CandidateStatus) -> CandidateResult {
    CandidateResult {
        config,
        status,
        stats: None,
        resources: None,
        worst_error: None,
        remeasured_ms: None,
    }
}

/// Random caches of the key's shape (one set per code layout a candidate uses, made when the
/// first candidate of that layout is timed), enough copies to exceed L2, and the step's
/// buffers.
struct TimingBench<'g> {
    gpu: &'g Gpu,
    shape: DecodeShape,
    seq: usize,
    residual: usize,
    caches: HashMap<CodeLayout, Vec<OneLayerCache>>,
    query: CudaSlice<u16>,
    out: CudaSlice<u16>,
    workspace: Workspace,
}

impl<'g> TimingBench<'g> {
    fn new(gpu: &'g Gpu, key: &TuneKey, options: &TuneOptions) -> Result<Self> {
        let s = &key.shape;
        let shape = DecodeShape {
            batch: key.batch,
            q_heads: options.kv_heads * s.group,
            kv_heads: options.kv_heads,
            head_dim: s.head_dim,
        };
        let elements = shape.batch * shape.q_heads * shape.head_dim;
        Ok(Self {
            gpu,
            shape,
            seq: key.seq,
            residual: options.residual,
            caches: HashMap::new(),
            query: gpu.stream.clone_htod(&vec![0x3c00u16; elements])?,
            out: gpu.stream.alloc_zeros::<u16>(elements)?,
            workspace: Workspace::default(),
        })
    }

    fn time(&mut self, kernel: &VqAttention, warmup: usize, runs: usize) -> Result<Stats> {
        let config = kernel.kernel.config;
        if !self.caches.contains_key(&config.layout) {
            let lengths = vec![self.seq; self.shape.batch];
            let caches =
                OneLayerCache::rotating(self.gpu, self.shape, &config, &lengths, self.residual)?;
            self.caches.insert(config.layout, caches);
        }
        let Self {
            gpu,
            caches,
            query,
            out,
            workspace,
            ..
        } = self;
        let caches = &caches[&config.layout];
        let t = Timer::new(gpu).time(warmup, runs, |i| {
            kernel.attend(gpu, caches[i % caches.len()].view()?, query, out, workspace)
        })?;
        Ok(Stats {
            median_ms: t.median_ms,
            min_ms: t.min_ms,
            max_ms: t.max_ms,
            runs: t.runs,
        })
    }
}
