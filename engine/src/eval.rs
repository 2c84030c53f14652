//! Teacher-forced perplexity by the GPU kernels: many windows at once, one sequence each, in
//! decode steps through the chosen cache. Position `p` of a window attends over the cache as
//! the step of token `p` leaves it (the quantized span and the fp16 window of the CPU eval's
//! `Method::quantized_span`), then scores token `p + 1`.

use crate::engine::{Engine, Projections, Session};
use crate::error::{EngineError, Result};
use crate::kv::CacheShape;
use crate::spec::CacheSpec;
use serde::Serialize;
use std::time::Instant;

#[derive(Clone, Debug, Serialize)]
pub struct GpuEvalResult {
    pub method: String,
    pub cache: String,
    pub perplexity: f64,
    pub nll_sum: f64,
    pub tokens_scored: usize,
    pub windows: usize,
    pub window_tokens: usize,
    pub batch: usize,
    pub graph: bool,
    pub seconds: f64,
    /// NLL summed per window, in window order.
    pub window_nll: Vec<f64>,
}

/// Perplexity over `windows` (all of one length) with `batch` windows per decode batch, the
/// projections `projections` (default: the batch's, [`Projections::default_for`]);
/// `progress(done, total)` after each batch.
pub fn evaluate(
    engine: &Engine,
    windows: &[&[u32]],
    spec: &CacheSpec<'_>,
    (batch, projections): (usize, Option<Projections>),
    graph: bool,
    progress: &dyn Fn(usize, usize),
) -> Result<GpuEvalResult> {
    let len = windows.first().map_or(0, |w| w.len());
    if windows.is_empty() || len < 2 || windows.iter().any(|w| w.len() != len) {
        return Err(EngineError::Invalid(
            "GPU evaluation needs windows of one length, at least 2 tokens".into(),
        ));
    }
    let start = Instant::now();
    let c = &engine.config;
    let mut window_nll = Vec::with_capacity(windows.len());
    let mut description = String::new();
    for (i, group) in windows.chunks(batch.max(1)).enumerate() {
        let shape = CacheShape {
            layers: c.layers,
            batch: group.len(),
            q_heads: c.q_heads,
            kv_heads: c.kv_heads,
            head_dim: c.head_dim,
            capacity: len,
        };
        let cache = spec.build(engine, shape)?;
        description = cache.describe();
        let mut session = Session::new(engine, cache)?;
        if let Some(p) = projections {
            session.set_projections(p)?;
        }
        session.teacher_force(group)?;
        for _ in 0..len - 1 {
            session.step(graph)?;
        }
        session.synchronize()?;
        let nll = session.nll()?;
        for w in 0..group.len() {
            let row = &nll[w * len..w * len + len - 1];
            window_nll.push(row.iter().map(|&x| x as f64).sum());
        }
        progress(((i + 1) * batch.max(1)).min(windows.len()), windows.len());
    }
    let nll_sum: f64 = window_nll.iter().sum();
    let tokens_scored = windows.len() * (len - 1);
    Ok(GpuEvalResult {
        method: spec.method().to_string(),
        cache: description,
        perplexity: (nll_sum / tokens_scored as f64).exp(),
        nll_sum,
        tokens_scored,
        windows: windows.len(),
        window_tokens: len,
        batch,
        graph,
        seconds: start.elapsed().as_secs_f64(),
        window_nll,
    })
}
