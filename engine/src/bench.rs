//! The decode benchmark: one decode step of the whole model over a batch of sequences that
//! each hold `context` cached tokens, eager and replayed from a CUDA graph, against the step's
//! byte limit (weights + KV bytes read, over the measured HBM bandwidth).

use crate::engine::{Engine, Projections, Session, Share, TokenWrites};
use crate::error::{EngineError, Result};
use crate::kv::CacheShape;
use crate::spec::CacheSpec;
use cudarc::driver::sys::CUevent_flags;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use vecinfer_codegen::ForwardConfig;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DecodeBenchRow {
    pub cache: String,
    pub bits_per_element: f64,
    pub batch: usize,
    /// Every sequence's tokens, or with `ragged` their mean.
    pub context: usize,
    /// Lengths spread around `context` (`decode-bench --ragged`, `Spread::Ragged`).
    #[serde(default)]
    pub ragged: bool,
    /// Past the model's context: a speed measurement, not a usable configuration.
    pub speed_only: bool,
    /// The largest batch that fits this cache at this context on this GPU.
    pub largest_batch: bool,
    pub eager_ms: f64,
    pub graph_ms: Option<f64>,
    pub graph_error: Option<String>,
    /// Tokens per second of the faster of the two.
    pub tokens_per_s: f64,
    pub ms_per_step: f64,
    pub weight_bytes: usize,
    pub kv_bytes: usize,
    pub byte_limit_ms: f64,
    /// Step time over its byte limit.
    pub vs_byte_limit: f64,
    pub cache_gb: f64,
    pub session_gb: f64,
    pub gpu_used_gb: f64,
    /// Shares of an eager step (events after every launch): attention, append, matmul, rest.
    pub shares: BTreeMap<Share, f64>,
    pub profiled_ms: f64,
    /// How the step ran its projections (rows from before the skinny kernels: cuBLAS).
    #[serde(default = "cublas")]
    pub projections: Projections,
    /// Whether the skinny projections were programmatic dependent launches.
    #[serde(default)]
    pub dependent_launches: bool,
    /// The cache's own description: codecs, layout, the attention's tiles and where its
    /// config came from (tuned or the heuristic). Empty in rows from before it.
    #[serde(default)]
    pub cache_kernel: String,
    /// How the step's new K/V reached the cache (rows from before session 11: an append per
    /// layer).
    #[serde(default = "appended")]
    pub token_writes: TokenWrites,
}

fn appended() -> TokenWrites {
    TokenWrites::Append
}

fn cublas() -> Projections {
    Projections::Cublas
}

/// How many steps a point runs.
#[derive(Clone, Copy, Debug)]
pub struct BenchSteps {
    pub warmup: usize,
    pub timed: usize,
}

impl Default for BenchSteps {
    fn default() -> Self {
        Self {
            warmup: 3,
            timed: 10,
        }
    }
}

fn event(engine: &Engine) -> Result<cudarc::driver::CudaEvent> {
    Ok(engine
        .gpu
        .context
        .new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))?)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Device copy bandwidth in bytes/s (bytes read + written by a 1 GiB device-to-device copy,
/// median of 5): the HBM rate a step's byte limit is measured against.
pub fn measure_bandwidth(engine: &Engine) -> Result<f64> {
    let st = engine.stream();
    let n = 1usize << 30;
    let src = st.alloc_zeros::<u8>(n)?;
    let mut dst = st.alloc_zeros::<u8>(n)?;
    let mut samples = Vec::new();
    for i in 0..7 {
        let (a, b) = (event(engine)?, event(engine)?);
        a.record(st)?;
        st.memcpy_dtod(&src, &mut dst)?;
        b.record(st)?;
        b.synchronize()?;
        if i >= 2 {
            samples.push(2.0 * n as f64 / (a.elapsed_ms(&b)? as f64 * 1e-3));
        }
    }
    Ok(median(samples))
}

/// Free device memory now (after the stream's work), bytes.
pub fn free_memory(engine: &Engine) -> Result<(usize, usize)> {
    engine.stream().synchronize()?;
    Ok(cudarc::driver::result::mem_get_info()?)
}

/// Tokens per sequence a point's cache holds: the context plus every step it runs.
pub fn capacity_for(context: usize, steps: BenchSteps) -> usize {
    context + 3 * (steps.warmup + steps.timed) + 8
}

/// The largest batch whose cache and step buffers fit in `free` bytes, keeping `reserve`.
pub fn largest_batch(
    engine: &Engine,
    spec: &CacheSpec<'_>,
    capacity: usize,
    free: usize,
    reserve: usize,
) -> usize {
    let per_sequence = spec.bytes_per_sequence(engine, capacity) + engine.step_bytes_per_sequence();
    free.saturating_sub(reserve) / per_sequence.max(1)
}

/// A session over a cache of `spec` at `shape`, sequence `i` filled to `lengths[i]` tokens.
fn bench_session<'e>(
    engine: &'e Engine,
    spec: &CacheSpec<'_>,
    shape: CacheShape,
    lengths: &[usize],
    steps: BenchSteps,
) -> Result<Session<'e>> {
    let cache = spec.build(engine, shape)?;
    let mut session = Session::new(engine, cache)?;
    session.horizon = steps.warmup + steps.timed;
    session.fill_for_benchmark_lengths(lengths)?;
    Ok(session)
}

/// The lengths of a point's sequences: all `context`, or (`Ragged`) spread around it as
/// `vecinfer_runtime::spread_lengths` spreads them (about the same total; one sequence stays
/// `context` long).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Spread {
    #[default]
    Equal,
    Ragged,
}

impl Spread {
    pub fn lengths(self, batch: usize, context: usize) -> Vec<usize> {
        match self {
            Spread::Equal => vec![context; batch],
            Spread::Ragged => vecinfer_runtime::spread_lengths(batch, context),
        }
    }

    /// The longest sequence of a point.
    pub fn longest(self, batch: usize, context: usize) -> usize {
        self.lengths(batch, context).into_iter().max().unwrap_or(0)
    }
}

/// The median step time (ms) of `steps.timed` steps after `steps.warmup`, each timed by events.
fn timed_steps(
    engine: &Engine,
    session: &mut Session<'_>,
    steps: BenchSteps,
    graph: bool,
) -> Result<f64> {
    let st = engine.stream();
    for _ in 0..steps.warmup {
        session.step(graph)?;
    }
    let mut samples = Vec::with_capacity(steps.timed);
    for _ in 0..steps.timed {
        let (a, b) = (event(engine)?, event(engine)?);
        a.record(st)?;
        session.step(graph)?;
        b.record(st)?;
        b.synchronize()?;
        samples.push(a.elapsed_ms(&b)? as f64);
    }
    Ok(median(samples))
}

/// The model's cache shape for `batch` sequences of up to `context` tokens plus the steps.
pub fn bench_shape(engine: &Engine, batch: usize, context: usize, steps: BenchSteps) -> CacheShape {
    let c = &engine.config;
    CacheShape {
        layers: c.layers,
        batch,
        q_heads: c.q_heads,
        kv_heads: c.kv_heads,
        head_dim: c.head_dim,
        capacity: capacity_for(context, steps),
    }
}

/// The graph step time (ms, median) of `batch` sequences at `context` tokens with a cache of
/// `spec`, each cache's own projections and token writes: what `vecinfer tune-steps` ranks by.
pub fn graph_step_ms(
    engine: &Engine,
    spec: &CacheSpec<'_>,
    batch: usize,
    context: usize,
    steps: BenchSteps,
) -> Result<f64> {
    let shape = bench_shape(engine, batch, context, steps);
    let mut session = bench_session(engine, spec, shape, &vec![context; batch], steps)?;
    timed_steps(engine, &mut session, steps, true)
}

/// One point of the grid: `batch` sequences around `context` tokens (`spread`), `steps`,
/// `bandwidth` in bytes/s for the byte limit.
#[derive(Clone, Copy, Debug)]
pub struct BenchPoint {
    pub batch: usize,
    pub context: usize,
    pub spread: Spread,
    pub steps: BenchSteps,
    pub bandwidth: f64,
}

/// One point of the grid; `projections`: the session's default when `None`.
pub fn run_point(
    engine: &Engine,
    spec: &CacheSpec<'_>,
    point: BenchPoint,
    projections: Option<Projections>,
    writes: Option<TokenWrites>,
) -> Result<DecodeBenchRow> {
    let BenchPoint {
        batch,
        context,
        spread,
        steps,
        bandwidth,
    } = point;
    let c = &engine.config;
    let lengths = spread.lengths(batch, context);
    let shape = bench_shape(engine, batch, spread.longest(batch, context), steps);
    let mut session = bench_session(engine, spec, shape, &lengths, steps)?;
    if let Some(p) = projections {
        session.set_projections(p)?;
    }
    if let Some(w) = writes {
        session.set_token_writes(w);
    }
    let (free, total) = free_memory(engine)?;
    let timed = |session: &mut Session<'_>, graph: bool| timed_steps(engine, session, steps, graph);
    let eager_ms = timed(&mut session, false)?;
    let (shares_ms, profiled_ms) = session.profiled_step()?;
    let (graph_ms, graph_error) = match timed(&mut session, true) {
        Ok(ms) => (Some(ms), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let ms = graph_ms.unwrap_or(eager_ms).min(eager_ms);
    // What the last timed step reads: bytes_read_per_step counts every sequence at one length.
    let grown = steps.warmup + steps.timed;
    let kv_bytes = lengths
        .iter()
        .map(|&n| session.cache().bytes_read_per_step(n + grown))
        .sum::<usize>()
        / batch.max(1);
    let weight_bytes = engine.weights.bytes_per_step();
    let byte_limit_ms = (weight_bytes + kv_bytes) as f64 / bandwidth * 1e3;
    let measured: f64 = shares_ms.iter().map(|(_, ms)| ms).sum();
    Ok(DecodeBenchRow {
        cache: spec.label(),
        bits_per_element: spec.bits(),
        batch,
        context,
        ragged: lengths.iter().any(|&n| n != context),
        speed_only: spread.longest(batch, context) > c.context,
        largest_batch: false,
        eager_ms,
        graph_ms,
        graph_error,
        tokens_per_s: batch as f64 / (ms * 1e-3),
        ms_per_step: ms,
        weight_bytes,
        kv_bytes,
        byte_limit_ms,
        vs_byte_limit: ms / byte_limit_ms,
        cache_gb: session.cache().device_bytes() as f64 / 1e9,
        session_gb: session.device_bytes() as f64 / 1e9,
        gpu_used_gb: (total - free) as f64 / 1e9,
        shares: shares_ms
            .into_iter()
            .map(|(s, ms)| (s, ms / measured.max(1e-12)))
            .collect(),
        profiled_ms,
        projections: session.projections(),
        cache_kernel: session.cache().describe(),
        token_writes: session.token_writes(),
        dependent_launches: engine.kernels.dependent_launches()
            && session.projections() == Projections::Skinny,
    })
}

/// Each warps × unroll tiling of the FP16 decode attention around the engine's forward config,
/// timed alone at `batch × context` ([`time_fp16_attention_with`], median of 20).
pub fn fp16_tilings(
    engine: &Engine,
    batch: usize,
    context: usize,
) -> Result<Vec<(ForwardConfig, f64)>> {
    let mut timed = Vec::new();
    for config in fp16_tiling_candidates(engine.kernels.config) {
        let kernels = crate::ForwardKernels::new(&engine.gpu, config)?;
        timed.push((
            config,
            time_fp16_attention_with(engine, &kernels, batch, context, 20)?,
        ));
    }
    Ok(timed)
}

/// The valid warps × unroll tilings of the FP16 decode attention around `base` (its other
/// settings kept): what [`fp16_tilings`] times and `gpu-check` checks.
pub fn fp16_tiling_candidates(base: ForwardConfig) -> Vec<ForwardConfig> {
    [2, 4, 8]
        .into_iter()
        .flat_map(|warps| [2, 4, 8].map(|unroll| (warps, unroll)))
        .map(|(decode_warps, decode_unroll)| ForwardConfig {
            decode_warps,
            decode_unroll,
            ..base
        })
        .filter(|c| c.validate().is_ok())
        .collect()
}

/// Times the FP16 decode attention alone with `kernels`' tiling (one layer's cache of
/// `batch × context`), median of `runs` after a warm-up, rotating over enough layers to leave
/// L2 behind.
pub fn time_fp16_attention_with(
    engine: &Engine,
    kernels: &crate::ForwardKernels,
    batch: usize,
    context: usize,
    runs: usize,
) -> Result<f64> {
    let c = &engine.config;
    // Enough layers to rotate past L2 (about 256 MB of K/V), at most 8.
    let layer_bytes = (batch * context * c.kv_heads * c.head_dim * 4).max(1);
    let layers = c.layers.min(8).min((256 << 20) / layer_bytes).max(1);
    let shape = CacheShape {
        layers,
        batch,
        q_heads: c.q_heads,
        kv_heads: c.kv_heads,
        head_dim: c.head_dim,
        capacity: context,
    };
    let mut cache = crate::kv::Fp16Cache::new(&engine.gpu, kernels, shape)?;
    use crate::kv::KvCache;
    cache.fill_for_benchmark(&engine.gpu, kernels, &vec![context; batch])?;
    let st = engine.stream();
    let positions = st.clone_htod(&vec![context as i32 - 1; batch])?;
    let query = st.alloc_zeros::<u16>(batch * c.q_heads * c.head_dim)?;
    let mut out = st.alloc_zeros::<u16>(batch * c.q_heads * c.head_dim)?;
    let mut samples = Vec::new();
    for i in 0..runs + 3 {
        let (a, b) = (event(engine)?, event(engine)?);
        a.record(st)?;
        cache.attend(
            &engine.gpu,
            i % layers,
            &query,
            &mut out,
            &positions,
            context,
        )?;
        b.record(st)?;
        b.synchronize()?;
        if i >= 3 {
            samples.push(a.elapsed_ms(&b)? as f64);
        }
    }
    if samples.is_empty() {
        return Err(EngineError::Invalid("no runs".into()));
    }
    Ok(median(samples))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ragged_point_spreads_its_lengths_around_the_context() {
        assert_eq!(Spread::Equal.lengths(3, 4096), [4096; 3]);
        assert_eq!(Spread::Equal.longest(3, 4096), 4096);
        let ragged = Spread::Ragged.lengths(8, 32768);
        assert_eq!(ragged, vecinfer_runtime::spread_lengths(8, 32768));
        assert_eq!(ragged.iter().sum::<usize>(), 8 * 32768);
        assert_eq!(Spread::Ragged.longest(8, 32768), 61440);
        // One sequence is not ragged.
        assert_eq!(Spread::Ragged.lengths(1, 4096), [4096]);
    }
}
