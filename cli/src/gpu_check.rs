//! Checks of the GPU engine against the CPU: the forward pass (prefill and decode-step logits),
//! the FP16 attention kernels against f64 references, and perplexity per method against the
//! CPU eval on the same windows. Used by `vecinfer gpu-check` and the GPU tests.

use crate::error::Result;
use crate::evaluate::evaluate_codebooks;
use indicatif::ProgressBar;
use serde::Serialize;
use std::path::Path;
use vecinfer_engine::eval::{GpuEvalResult, evaluate};
use vecinfer_engine::kv::KvCache;
use vecinfer_engine::{
    CacheShape, CacheSpec, Engine, Fp16Cache, Projections, Session, TokenWrites, WeightSource,
};
use vecinfer_model::{ExactAttention, Llama};
use vecinfer_quant::{CacheLayout, CodebookPlan, CodebookSet, Codebooks, Method};

#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    pub name: String,
    pub passed: bool,
    pub detail: String,
    pub values: serde_json::Value,
}

impl CheckReport {
    pub fn line(&self) -> String {
        format!(
            "{} {}: {}",
            if self.passed { "PASS" } else { "FAIL" },
            self.name,
            self.detail
        )
    }
}

/// max |a − b| / max |b| and whether the argmaxes agree.
pub fn compare_logits(gpu: &[f32], cpu: &[f32]) -> (f64, bool) {
    let scale = cpu.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6) as f64;
    let diff = gpu
        .iter()
        .zip(cpu)
        .fold(0f64, |m, (a, b)| m.max((a - b).abs() as f64));
    let argmax = |v: &[f32]| {
        v.iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i)
    };
    (diff / scale, argmax(gpu) == argmax(cpu))
}

fn cpu_last_logits(llama: &Llama, tokens: &[u32]) -> Result<Vec<f32>> {
    let logits = llama.forward(tokens, &mut ExactAttention)?;
    Ok(logits
        .get(tokens.len() - 1)
        .and_then(|r| r.to_vec1::<f32>())
        .map_err(vecinfer_model::ModelError::from)?)
}

/// Logits of the GPU pass (FP16 prefill in chunks of `chunk`, then `steps` greedy decode steps
/// through the FP16 cache, graphs or eager) against the CPU pass over the same tokens, for
/// every prompt (a batch; all of one length). Passes when every compared row is within
/// `tolerance` (max |Δ| / max |logit|) and picks the same top token.
#[allow(clippy::too_many_arguments)]
pub fn check_forward(
    engine: &Engine,
    llama: &Llama,
    name: &str,
    prompts: &[Vec<u32>],
    chunk: usize,
    steps: usize,
    graph: bool,
    projections: Option<Projections>,
    tolerance: f64,
) -> Result<CheckReport> {
    let c = &engine.config;
    let vocab = c.vocab;
    let shape = CacheShape {
        layers: c.layers,
        batch: prompts.len(),
        q_heads: c.q_heads,
        kv_heads: c.kv_heads,
        head_dim: c.head_dim,
        capacity: prompts[0].len() + steps + 1,
    };
    let cache = Fp16Cache::new(
        &engine.gpu,
        &engine.fp16_kernels(shape.batch, shape.capacity)?,
        shape,
    )?;
    let mut session = Session::new(engine, Box::new(cache))?;
    if let Some(p) = projections {
        session.set_projections(p)?;
    }
    let refs: Vec<&[u32]> = prompts.iter().map(|p| p.as_slice()).collect();
    session.prefill(&refs, chunk)?;
    let mut tokens: Vec<Vec<u32>> = prompts.to_vec();
    let mut rows = Vec::new();
    for step in 0..=steps {
        let gpu = session.logits()?;
        for (b, seq) in tokens.iter().enumerate() {
            let cpu = cpu_last_logits(llama, seq)?;
            let (ratio, same_top) = compare_logits(&gpu[b * vocab..(b + 1) * vocab], &cpu);
            rows.push(serde_json::json!({"step": step, "sequence": b, "ratio": ratio, "same_top": same_top}));
        }
        if step == steps {
            break;
        }
        let next = session.next_tokens()?;
        for (seq, t) in tokens.iter_mut().zip(next) {
            seq.push(t);
        }
        session.step(graph)?;
    }
    let worst = rows
        .iter()
        .map(|r| r["ratio"].as_f64().unwrap_or(f64::INFINITY))
        .fold(0f64, f64::max);
    let first = rows
        .iter()
        .filter(|r| r["step"] == 0)
        .map(|r| r["ratio"].as_f64().unwrap_or(f64::INFINITY))
        .fold(0f64, f64::max);
    let same = rows.iter().filter(|r| r["same_top"] == true).count();
    Ok(CheckReport {
        name: name.into(),
        passed: worst <= tolerance && same == rows.len(),
        detail: format!(
            "{} prompts of {} tokens (chunks of {chunk}), {steps} decode steps ({}, {:?} projections): first-step max|Δ|/max|logit| {first:.2e}, worst {worst:.2e} (tolerance {tolerance:.0e}), same top token {same}/{}",
            prompts.len(),
            prompts[0].len(),
            if graph { "graph" } else { "eager" },
            session.projections(),
            rows.len()
        ),
        values: serde_json::json!({"rows": rows, "worst": worst, "first_step": first}),
    })
}

/// f64 attention of one query over `len` keys/values (`[len, D]` f16 bits), scaled 1/sqrt(D).
fn reference_attention(q: &[f32], keys: &[u16], values: &[u16], len: usize, d: usize) -> Vec<f64> {
    let f = |h: u16| half::f16::from_bits(h).to_f64();
    let scale = 1.0 / (d as f64).sqrt();
    let scores: Vec<f64> = (0..len)
        .map(|j| {
            (0..d)
                .map(|i| q[i] as f64 * f(keys[j * d + i]))
                .sum::<f64>()
                * scale
        })
        .collect();
    let m = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = scores.iter().map(|s| (s - m).exp()).collect();
    let total: f64 = w.iter().sum();
    (0..d)
        .map(|i| (0..len).map(|j| w[j] * f(values[j * d + i])).sum::<f64>() / total)
        .collect()
}

fn random_halves(n: usize, seed: u64, scale: f32) -> (Vec<u16>, Vec<f32>) {
    let v = vecinfer_engine::weights::noise(seed, 7, n, scale);
    let bits: Vec<u16> = v
        .iter()
        .map(|&x| half::f16::from_f32(x).to_bits())
        .collect();
    let back = bits
        .iter()
        .map(|&h| half::f16::from_bits(h).to_f32())
        .collect();
    (bits, back)
}

/// The split-K FP16 decode attention (and its merge) against f64, sequences of different
/// lengths in one batch, launch geometry planned for the full capacity (as in a graph).
pub fn check_fp16_decode_attention(engine: &Engine) -> Result<CheckReport> {
    let c = &engine.config;
    let (hq, hk, d) = (c.q_heads, c.kv_heads, c.head_dim);
    let lengths = [1usize, 300, 777, 2500];
    let capacity = 2600;
    let shape = CacheShape {
        layers: 1,
        batch: lengths.len(),
        q_heads: hq,
        kv_heads: hk,
        head_dim: d,
        capacity,
    };
    let st = engine.stream();
    // Every decode tiling the engine may pick per shape (`Fp16Tiling::Fastest`), each with
    // the same cache contents.
    let tilings = vecinfer_engine::bench::fp16_tiling_candidates(engine.kernels.config);
    let mut cache = Fp16Cache::new(&engine.gpu, &engine.kernels, shape)?;
    cache.fill_for_benchmark(&engine.gpu, &engine.kernels, &vec![capacity; lengths.len()])?;
    let (kb, vb) = cache.layer_buffers(0);
    let (keys, values) = (st.clone_dtoh(kb)?, st.clone_dtoh(vb)?);
    let (q_bits, q) = random_halves(lengths.len() * hq * d, 11, 3.0);
    let query = st.clone_htod(&q_bits)?;
    let mut out = st.alloc_zeros::<u16>(q_bits.len())?;
    let positions: Vec<i32> = lengths.iter().map(|&l| l as i32 - 1).collect();
    let positions = st.clone_htod(&positions)?;
    let mut worst = 0f64;
    let mut plans = Vec::new();
    for (tiling, plan_len) in tilings
        .iter()
        .flat_map(|t| [2500, capacity].map(|p| (t, p)))
    {
        let kernels = vecinfer_engine::ForwardKernels::new(&engine.gpu, *tiling)?;
        let mut cache = Fp16Cache::new(&engine.gpu, &kernels, shape)?;
        // The same seeded contents as the reference's copy (the fill does not depend on the tiling).
        cache.fill_for_benchmark(&engine.gpu, &kernels, &vec![capacity; lengths.len()])?;
        let (kb, vb) = cache.layer_buffers(0);
        if st.clone_dtoh(kb)? != keys || st.clone_dtoh(vb)? != values {
            return Err(crate::CliError::Invalid(format!(
                "{}: the benchmark fill gave other contents",
                tiling.name()
            )));
        }
        cache.attend(&engine.gpu, 0, &query, &mut out, &positions, plan_len)?;
        plans.push(format!("{} {:?}", tiling.name(), cache.plan(plan_len)));
        let got = st.clone_dtoh(&out)?;
        for (s, &len) in lengths.iter().enumerate() {
            for h in 0..hq {
                let kv = h / (hq / hk);
                let base = (s * hk + kv) * capacity * d;
                let want = reference_attention(
                    &q[(s * hq + h) * d..][..d],
                    &keys[base..base + len * d],
                    &values[base..base + len * d],
                    len,
                    d,
                );
                let norm = want.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-9);
                let err = want
                    .iter()
                    .enumerate()
                    .map(|(i, w)| {
                        let g = half::f16::from_bits(got[(s * hq + h) * d + i]).to_f64();
                        (g - w) * (g - w)
                    })
                    .sum::<f64>()
                    .sqrt()
                    / norm;
                worst = worst.max(err);
            }
        }
    }
    Ok(CheckReport {
        name: "fp16 decode attention vs f64".into(),
        passed: worst < 2e-3,
        detail: format!(
            "lengths {lengths:?}, plans {plans:?}: worst relative L2 error {worst:.2e} (tolerance 2e-3)"
        ),
        values: serde_json::json!({"worst": worst}),
    })
}

/// The FP16 causal prefill attention of a chunk at an offset against f64.
pub fn check_prefill_attention(engine: &Engine) -> Result<CheckReport> {
    let c = &engine.config;
    let (hq, hk, d) = (c.q_heads, c.kv_heads, c.head_dim);
    let (batch, capacity, offset, chunk) = (2usize, 300usize, 150usize, 100usize);
    let st = engine.stream();
    let (k_bits, _) = random_halves(batch * hk * capacity * d, 21, 2.0);
    let (v_bits, _) = random_halves(batch * hk * capacity * d, 22, 1.0);
    let (q_bits, q) = random_halves(batch * hq * chunk * d, 23, 2.0);
    let keys = st.clone_htod(&k_bits)?;
    let values = st.clone_htod(&v_bits)?;
    let query = st.clone_htod(&q_bits)?;
    let mut out = st.alloc_zeros::<u16>(batch * chunk * hq * d)?;
    let positions = st.clone_htod(&vec![offset as i32; batch])?;
    engine.kernels.prefill_attention(
        st,
        &query,
        (&keys, &values),
        &positions,
        &mut out,
        (batch, hq, chunk, capacity),
    )?;
    let got = st.clone_dtoh(&out)?;
    let mut worst = 0f64;
    for s in 0..batch {
        for h in 0..hq {
            let base = (s * hk + h / (hq / hk)) * capacity * d;
            for t in 0..chunk {
                let len = offset + t + 1;
                let want = reference_attention(
                    &q[((s * hq + h) * chunk + t) * d..][..d],
                    &k_bits[base..base + len * d],
                    &v_bits[base..base + len * d],
                    len,
                    d,
                );
                let norm = want.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-9);
                let at = ((s * chunk + t) * hq + h) * d;
                let err = want
                    .iter()
                    .enumerate()
                    .map(|(i, w)| {
                        let g = half::f16::from_bits(got[at + i]).to_f64();
                        (g - w) * (g - w)
                    })
                    .sum::<f64>()
                    .sqrt()
                    / norm;
                worst = worst.max(err);
            }
        }
    }
    Ok(CheckReport {
        name: "fp16 prefill attention vs f64".into(),
        passed: worst < 2e-3,
        detail: format!(
            "{batch} sequences, chunk of {chunk} at position {offset}: worst relative L2 error {worst:.2e} (tolerance 2e-3)"
        ),
        values: serde_json::json!({"worst": worst}),
    })
}

/// GPU perplexity (graph and eager at `batch` windows per decode batch, graph again at
/// [`SMALL_BATCH`] where that is smaller: the skinny projections and the VQ cache's small-batch
/// tiles) against the CPU eval of `method` on the same windows.
#[allow(clippy::too_many_arguments)]
pub fn check_eval(
    engine: &Engine,
    llama: &Llama,
    windows: &[&[u32]],
    method: Method,
    (codebooks, only): (Option<Codebooks<'_>>, Option<&[usize]>),
    layout: CacheLayout,
    batch: usize,
    tolerance: f64,
) -> Result<CheckReport> {
    let spec = match (codebooks, only) {
        (Some(Codebooks::Set(set)), Some(layers)) => match method {
            Method::Vq(transform) => CacheSpec::OnlyLayers {
                set,
                layers,
                transform,
                layout,
            },
            _ => crate::gpu::spec_for(method, Some(set), layout)?,
        },
        (Some(Codebooks::Plan(plan)), only) => {
            if only.is_some() {
                return Err(crate::CliError::Invalid(
                    "check_eval: a plan with only some layers coded has no GPU cache; give one set"
                        .into(),
                ));
            }
            crate::gpu::plan_spec_for(method, Some(plan), layout)?
        }
        (Some(Codebooks::Set(set)), None) => crate::gpu::spec_for(method, Some(set), layout)?,
        (None, _) => crate::gpu::spec_for(method, None, layout)?,
    };
    let cpu = evaluate_codebooks(
        llama,
        windows,
        method,
        codebooks,
        layout,
        (None, only, false),
        &ProgressBar::hidden(),
    )?;
    let graph = evaluate(engine, windows, &spec, (batch, None), true, &|_, _| {})?;
    let eager = evaluate(engine, windows, &spec, (batch, None), false, &|_, _| {})?;
    let small = if batch > SMALL_BATCH {
        Some(evaluate(
            engine,
            windows,
            &spec,
            (SMALL_BATCH, None),
            true,
            &|_, _| {},
        )?)
    } else {
        None
    };
    let rel = |p: f64| (p / cpu.perplexity - 1.0).abs();
    let graph_vs_eager = graph
        .window_nll
        .iter()
        .zip(&eager.window_nll)
        .map(|(a, b)| (a - b).abs())
        .fold(0f64, f64::max);
    let spread = WindowSpread::of(&graph.window_nll, &cpu.window_nll);
    Ok(CheckReport {
        name: format!("perplexity {} GPU vs CPU", spec.label()),
        passed: rel(graph.perplexity) <= tolerance
            && rel(eager.perplexity) <= tolerance
            && small
                .as_ref()
                .is_none_or(|s| rel(s.perplexity) <= tolerance),
        detail: format!(
            "{} windows of {}: CPU {:.4}, GPU graph {:.4} ({:+.3}%), eager {:.4} ({:+.3}%) at {batch} per batch{}; tolerance {:.1}%; GPU − CPU NLL per window {spread}; graph vs eager max window NLL diff {graph_vs_eager:.2e}; GPU {:.1} s, CPU {:.1} s",
            windows.len(),
            windows[0].len(),
            cpu.perplexity,
            graph.perplexity,
            100.0 * (graph.perplexity / cpu.perplexity - 1.0),
            eager.perplexity,
            100.0 * (eager.perplexity / cpu.perplexity - 1.0),
            small.as_ref().map_or(String::new(), |s| format!(
                ", graph {:.4} ({:+.3}%) at {SMALL_BATCH} per batch",
                s.perplexity,
                100.0 * (s.perplexity / cpu.perplexity - 1.0)
            )),
            100.0 * tolerance,
            graph.seconds,
            cpu.seconds
        ),
        values: serde_json::json!({"cpu": cpu, "gpu_graph": graph, "gpu_eager": eager, "gpu_graph_small_batch": small}),
    })
}

/// The small batch [`check_eval`] also runs: the skinny projections' default and the VQ
/// cache's small-batch tiles.
const SMALL_BATCH: usize = vecinfer_engine::SKINNY_DEFAULT_ROWS;

/// Per-position NLL `[windows, len]`, and each entry's cache bytes per layer.
type TeacherForcedRun = (Vec<f32>, Vec<Vec<Vec<u8>>>);

/// A [`TeacherForcedRun`] of `windows` as one batch through `spec`'s cache.
fn teacher_forced_run(
    engine: &Engine,
    windows: &[&[u32]],
    spec: &CacheSpec<'_>,
    graph: bool,
    projections: Projections,
    writes: Option<TokenWrites>,
) -> Result<TeacherForcedRun> {
    let c = &engine.config;
    let len = windows[0].len();
    let shape = CacheShape {
        layers: c.layers,
        batch: windows.len(),
        q_heads: c.q_heads,
        kv_heads: c.kv_heads,
        head_dim: c.head_dim,
        capacity: len,
    };
    let mut session = Session::new(engine, spec.build(engine, shape)?)?;
    session.set_projections(projections)?;
    if let Some(writes) = writes {
        session.set_token_writes(writes);
        if session.token_writes() != writes {
            return Err(crate::error::CliError::Invalid(format!(
                "{}: this cache does not take {writes:?} token writes on this GPU",
                spec.label()
            )));
        }
    }
    session.teacher_force(windows)?;
    for _ in 0..len - 1 {
        session.step(graph)?;
    }
    session.synchronize()?;
    let contents = (0..windows.len())
        .map(|b| {
            (0..c.layers)
                .map(|layer| Ok(session.cache().entry_contents(&engine.gpu, layer, b)?))
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((session.nll()?, contents))
}

/// Where one entry's run leaves another's: the first scored position whose NLL differs (NaN
/// differs from everything), the first layer whose cache bytes differ and the byte in it.
#[derive(Clone, Debug, Default, PartialEq)]
struct EntryDiff {
    position: Option<usize>,
    layer_and_byte: Option<(usize, Option<usize>)>,
}

impl EntryDiff {
    fn of(nll: (&[f32], &[f32]), contents: (&[Vec<u8>], &[Vec<u8>])) -> Self {
        let position = nll
            .0
            .iter()
            .zip(nll.1)
            .position(|(x, y)| x != y || x.is_nan());
        let layer_and_byte =
            contents
                .0
                .iter()
                .zip(contents.1)
                .enumerate()
                .find_map(|(layer, (x, y))| {
                    (x != y).then(|| (layer, x.iter().zip(y).position(|(p, q)| p != q)))
                });
        Self {
            position,
            layer_and_byte,
        }
    }

    fn identical(&self) -> bool {
        *self == Self::default()
    }
}

/// The orders the entry check runs after the first (entry `e` holds window `order[e]`): every
/// rotation, so that each window sits at every entry, and the reversed order, so that its
/// neighbours change too.
fn entry_orders(count: usize) -> Vec<Vec<usize>> {
    let mut orders: Vec<Vec<usize>> = (1..count)
        .map(|r| (0..count).map(|e| (e + r) % count).collect())
        .collect();
    if count >= 3 {
        orders.push((0..count).rev().collect());
    }
    orders
}

/// A batch entry must get exactly what its window gets anywhere else in the batch: the windows
/// as one batch, then in every rotation (each window at every entry) and reversed (other
/// neighbours), per-position NLL and every layer's cache bytes compared with the first run,
/// bit for bit. One batch size, so one kernel config, and the skinny projections, whose rows
/// round the same wherever they sit. Needs 2 to [`vecinfer_engine::SKINNY_ROWS`] windows and a
/// model the skinny projections take. Reports where an entry first leaves the first run.
pub fn check_entries_independent(
    engine: &Engine,
    windows: &[&[u32]],
    spec: &CacheSpec<'_>,
    graph: bool,
) -> Result<CheckReport> {
    let count = windows.len();
    if count < 2 {
        return Err(crate::CliError::Invalid(format!(
            "the entry check needs at least 2 windows, got {count}"
        )));
    }
    Projections::Skinny.check(&engine.config, count)?;
    let len = windows[0].len();
    let (first, first_contents) =
        teacher_forced_run(engine, windows, spec, graph, Projections::Skinny, None)?;
    let nll_of = |nll: &[f32], e: usize| nll[e * len..e * len + len - 1].to_vec();
    let sum = |row: &[f32]| row.iter().map(|&x| x as f64).sum::<f64>();
    let orders = entry_orders(count);
    let mut entries = Vec::new();
    for order in &orders {
        let batch: Vec<&[u32]> = order.iter().map(|&w| windows[w]).collect();
        let (nll, contents) =
            teacher_forced_run(engine, &batch, spec, graph, Projections::Skinny, None)?;
        for (e, &w) in order.iter().enumerate() {
            let (mine, reference) = (nll_of(&nll, e), nll_of(&first, w));
            let diff = EntryDiff::of((&mine, &reference), (&contents[e], &first_contents[w]));
            entries.push((w, e, sum(&mine), sum(&reference), diff));
        }
    }
    let differing = entries
        .iter()
        .filter(|(.., d)| !d.identical())
        .map(|(w, e, nll, reference, d)| {
            format!(
                "window {w} at entry {e}: NLL {nll:.3} (at entry {w}: {reference:.3}), first position {:?}, first layer/byte {:?}; ",
                d.position, d.layer_and_byte
            )
        })
        .collect::<String>();
    Ok(CheckReport {
        name: format!(
            "{}: {count} windows, each at every entry of the batch, agree ({})",
            spec.label(),
            if graph { "graph" } else { "eager" }
        ),
        passed: differing.is_empty(),
        detail: format!(
            "windows of {len}, skinny projections, {} more orders (rotations, reversed): per-position NLL and every layer's cache bytes bit-identical; {}",
            orders.len(),
            if differing.is_empty() {
                "all identical".to_string()
            } else {
                differing
            }
        ),
        values: serde_json::json!({"entries": entries.iter().map(|(w, e, nll, reference, d)| serde_json::json!({
            "window": w, "entry": e, "nll": nll, "nll_first_run": reference,
            "first_differing_position": d.position, "first_differing_layer_and_byte": d.layer_and_byte,
        })).collect::<Vec<_>>()}),
    })
}

/// ", int8 window" for a VQ cache (its label leaves the window out), nothing for fp16.
fn window_label(spec: &CacheSpec<'_>) -> String {
    match spec {
        CacheSpec::Vq { layout, .. }
        | CacheSpec::Layered { layout, .. }
        | CacheSpec::OnlyLayers { layout, .. } => {
            format!(", {} window", layout.precision)
        }
        CacheSpec::Fp16 => String::new(),
    }
}

/// Windows whose NLL differs in any bit between two GPU evaluations of the same windows.
fn differing_windows(a: &GpuEvalResult, b: &GpuEvalResult) -> usize {
    a.window_nll
        .iter()
        .zip(&b.window_nll)
        .filter(|(x, y)| x.to_bits() != y.to_bits())
        .count()
}

/// A plan whose parts are copies of `set` must give the set's own cache bit for bit: GPU
/// perplexity window by window (graph-replayed steps).
fn check_plan_equals_set(
    engine: &Engine,
    windows: &[&[u32]],
    plan: &CodebookPlan,
    set: &CodebookSet,
    layout: CacheLayout,
) -> Result<CheckReport> {
    let method = Method::Vq(vecinfer_quant::KeyTransform::BOTH);
    let layered = crate::gpu::plan_spec_for(method, Some(plan), layout)?;
    let uniform = crate::gpu::spec_for(method, Some(set), layout)?;
    let a = evaluate(engine, windows, &layered, (4, None), true, &|_, _| {})?;
    let b = evaluate(engine, windows, &uniform, (4, None), true, &|_, _| {})?;
    let differing = differing_windows(&a, &b);
    Ok(CheckReport {
        name: "a plan of one set's copies = the set's cache".into(),
        passed: matches!(layered, CacheSpec::Layered { .. }) && differing == 0,
        detail: format!(
            "{} windows of {}, {} parts ({}): {differing} windows' NLL differ; perplexity {:.6} vs {:.6}",
            windows.len(),
            windows[0].len(),
            plan.parts().len(),
            a.cache,
            a.perplexity,
            b.perplexity
        ),
        values: serde_json::json!({"plan": a.window_nll, "set": b.window_nll}),
    })
}

/// The layer probe's ends, bit for bit: every layer coded is the set's own cache, no layer
/// coded is the fp16 cache (GPU perplexity window by window, graph-replayed steps).
fn check_only_layers_ends(
    engine: &Engine,
    windows: &[&[u32]],
    set: &CodebookSet,
    layout: CacheLayout,
) -> Result<CheckReport> {
    let transform = vecinfer_quant::KeyTransform::BOTH;
    let all: Vec<usize> = (0..set.meta.layers).collect();
    let only = |layers| CacheSpec::OnlyLayers {
        set,
        layers,
        transform,
        layout,
    };
    let uniform = CacheSpec::Vq {
        set,
        transform,
        layout,
    };
    let run = |spec: &CacheSpec<'_>| -> Result<_> {
        Ok(evaluate(
            engine,
            windows,
            spec,
            (4, None),
            true,
            &|_, _| {},
        )?)
    };
    let mut detail = Vec::new();
    let mut passed = true;
    let mut values = Vec::new();
    let (unsorted, sorted) = ([3, 1], [1, 3]);
    for (what, probe, reference) in [
        ("every layer coded vs the set's cache", only(&all), uniform),
        (
            "no layer coded vs the fp16 cache",
            only(&[]),
            CacheSpec::Fp16,
        ),
        ("layers 3, 1 vs 1, 3", only(&unsorted), only(&sorted)),
    ] {
        let (a, b) = (run(&probe)?, run(&reference)?);
        let differing = differing_windows(&a, &b);
        passed &= differing == 0;
        detail.push(format!(
            "{what} ({}): {differing} windows' NLL differ, perplexity {:.6} vs {:.6}",
            a.cache, a.perplexity, b.perplexity
        ));
        values.push(
            serde_json::json!({"check": what, "probe": a.window_nll, "reference": b.window_nll}),
        );
    }
    Ok(CheckReport {
        name: "only-layers: every layer = the set's cache, none = the fp16 cache, any order".into(),
        passed,
        detail: format!(
            "{} windows of {}; {}",
            windows.len(),
            windows[0].len(),
            detail.join("; ")
        ),
        values: serde_json::json!(values),
    })
}

/// The two ways a step's new K and V reach the cache ([`TokenWrites`]) give the same bits: the
/// windows teacher-forced once with the QKV projection writing the slots (and the VQ
/// cache's one window flush per step) and once with an append per layer; per-position NLL and
/// every layer's cache bytes must be identical. The windows should outrun the fp16 window, so
/// that tokens leave it.
pub fn check_token_writes_agree(
    engine: &Engine,
    windows: &[&[u32]],
    spec: &CacheSpec<'_>,
    graph: bool,
    projections: Projections,
) -> Result<CheckReport> {
    let run = |writes| teacher_forced_run(engine, windows, spec, graph, projections, Some(writes));
    let (written, written_contents) = run(TokenWrites::Projection)?;
    let (appended, appended_contents) = run(TokenWrites::Append)?;
    let len = windows[0].len();
    let diffs: Vec<(usize, EntryDiff)> = (0..windows.len())
        .map(|e| {
            let nll = |n: &[f32]| n[e * len..e * len + len - 1].to_vec();
            let diff = EntryDiff::of(
                (&nll(&written), &nll(&appended)),
                (&written_contents[e], &appended_contents[e]),
            );
            (e, diff)
        })
        .collect();
    let differing = diffs
        .iter()
        .filter(|(_, d)| !d.identical())
        .map(|(e, d)| {
            format!(
                "entry {e}: first position {:?}, first layer/byte {:?}; ",
                d.position, d.layer_and_byte
            )
        })
        .collect::<String>();
    Ok(CheckReport {
        name: format!(
            "{}{}: new K/V written by the projection = appended per layer ({projections:?}, {})",
            spec.label(),
            window_label(spec),
            if graph { "graph" } else { "eager" }
        ),
        passed: differing.is_empty(),
        detail: format!(
            "{} windows of {len}: per-position NLL and every layer's cache bytes bit-identical; {}",
            windows.len(),
            if differing.is_empty() {
                "all identical".to_string()
            } else {
                differing
            }
        ),
        values: serde_json::json!({
            "nll_projection_writes": written.iter().map(|&x| x as f64).sum::<f64>(),
            "nll_appends": appended.iter().map(|&x| x as f64).sum::<f64>(),
            "differing_entries": diffs.iter().filter(|(_, d)| !d.identical()).count(),
        }),
    })
}

/// Per-window GPU − CPU NLL: a low-bit cache's perplexity moves with the rounding of the
/// K/V it quantizes (a code near a centroid boundary flips), so single windows move by a
/// few tenths of a percent either way while the mean stays put (SmolLM2 2-bit, 16 windows of
/// 2048: −14 to +31 nats a window with either projections, the mean +2.5 to +4 nats,
/// bench/results/model-s9/spread-h200). Reported beside the check so that a shift well
/// outside this spread reads as a fault.
struct WindowSpread {
    windows: usize,
    mean: f64,
    std: f64,
    min: f64,
    max: f64,
}

impl WindowSpread {
    fn of(gpu: &[f64], cpu: &[f64]) -> Self {
        let diffs: Vec<f64> = gpu.iter().zip(cpu).map(|(g, c)| g - c).collect();
        let n = diffs.len().max(1) as f64;
        let mean = diffs.iter().sum::<f64>() / n;
        let var = diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
        Self {
            windows: diffs.len(),
            mean,
            std: var.sqrt(),
            min: diffs.iter().copied().fold(f64::INFINITY, f64::min),
            max: diffs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }
    }
}

impl std::fmt::Display for WindowSpread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sd = if self.windows < 2 {
            "n/a".to_string()
        } else {
            format!("{:.2}", self.std)
        };
        write!(
            f,
            "mean {:+.2}, sd {sd}, from {:+.2} to {:+.2} nats",
            self.mean, self.min, self.max
        )
    }
}

/// A check that failed to run is a failed check (the others still run).
fn guard(name: &str, result: Result<CheckReport>) -> CheckReport {
    result.unwrap_or_else(|e| CheckReport {
        name: name.to_string(),
        passed: false,
        detail: format!("error: {e}"),
        values: serde_json::Value::Null,
    })
}

/// Everything on a small random model (no files needed): the forward pass (prefill in
/// chunks, batched, decode steps eager and from graphs), the attention kernels, and (with
/// `with_eval`) perplexity for fp16 and a VQ method with random codebooks.
pub fn tiny_model_checks(dir: &Path, with_eval: bool) -> Result<Vec<CheckReport>> {
    let config = vecinfer_engine::synthetic::tiny_config();
    let path = dir.join("tiny-random-llama.gguf");
    vecinfer_engine::synthetic::write_random_llama(&path, &config, 5, false)?;
    let llama = Llama::load(&path)?;
    let engine = Engine::open(WeightSource::Gguf(&path), crate::gpu::engine_options())?;
    let prompt = |seed: u64, n: usize| -> Vec<u32> {
        vecinfer_engine::weights::noise(seed, 3, n, 1.0)
            .iter()
            .map(|v| ((v + 1.0) * 0.5 * config.vocab as f32) as u32 % config.vocab as u32)
            .collect()
    };
    let forward = |name: &str, prompts: &[Vec<u32>], chunk, steps, graph, projections| {
        guard(
            name,
            check_forward(
                &engine,
                &llama,
                name,
                prompts,
                chunk,
                steps,
                graph,
                Some(projections),
                2e-2,
            ),
        )
    };
    let mut reports = vec![
        forward(
            "tiny model: prefill + decode logits, graph, skinny projections",
            &[prompt(1, 37)],
            16,
            6,
            true,
            Projections::Skinny,
        ),
        forward(
            "tiny model: prefill + decode logits, graph, cuBLAS projections",
            &[prompt(1, 37)],
            16,
            6,
            true,
            Projections::Cublas,
        ),
        forward(
            "tiny model: batch of 2, eager, skinny projections",
            &[prompt(2, 20), prompt(3, 20)],
            7,
            3,
            false,
            Projections::Skinny,
        ),
        forward(
            "tiny model: batch of 9, eager, cuBLAS projections (over the skinny rows)",
            &(0..9).map(|i| prompt(20 + i, 12)).collect::<Vec<_>>(),
            5,
            2,
            false,
            Projections::Cublas,
        ),
        guard(
            "fp16 decode attention vs f64",
            check_fp16_decode_attention(&engine),
        ),
        guard(
            "fp16 prefill attention vs f64",
            check_prefill_attention(&engine),
        ),
    ];
    if !with_eval {
        return Ok(reports);
    }
    let tokens = prompt(9, 6 * 96);
    let windows: Vec<&[u32]> = tokens.chunks_exact(96).collect();
    // The int8 window's rounding turns the GPU's K/V differences (fp16 GEMMs) into a few more
    // flipped steps, so its check averages over more windows: on 6 the mean difference was
    // +0.33 nats a window, sd 0.59 (H200, bench/results/accuracy-s22).
    let more_tokens = prompt(9, 24 * 96);
    let more_windows: Vec<&[u32]> = more_tokens.chunks_exact(96).collect();
    reports.push(guard(
        "tiny model: perplexity fp16",
        check_eval(
            &engine,
            &llama,
            &windows,
            Method::Fp16,
            (None, None),
            CacheLayout::default(),
            4,
            3e-3,
        ),
    ));
    let set = vecinfer_quant::synthetic::random_codebook_set(
        3,
        "d4b8".parse().expect("valid codec"),
        "d4b8".parse().expect("valid codec"),
        vecinfer_quant::Granularity::Layer,
        config.layers,
        config.kv_heads,
        config.head_dim,
    );
    for layout in [
        CacheLayout {
            sinks: 0,
            residual: 16,
            ..CacheLayout::default()
        },
        CacheLayout {
            sinks: 4,
            residual: 8,
            ..CacheLayout::default()
        },
        // Sinks and window as int8 rows (the projection writes them on sm_90 and later).
        CacheLayout {
            sinks: 4,
            residual: 8,
            precision: vecinfer_quant::WindowPrecision::Int8,
        },
    ] {
        let name = format!(
            "tiny model: perplexity vecinfer (random codebooks, sinks {}, residual {}, {} window)",
            layout.sinks, layout.residual, layout.precision
        );
        let windows = match layout.precision {
            vecinfer_quant::WindowPrecision::Fp16 => &windows,
            vecinfer_quant::WindowPrecision::Int8 => &more_windows,
        };
        let mut r = guard(
            &name,
            check_eval(
                &engine,
                &llama,
                windows,
                Method::Vq(vecinfer_quant::KeyTransform::BOTH),
                (Some((&set).into()), None),
                layout,
                4,
                3e-3,
            ),
        );
        r.name = name;
        reports.push(r);
    }
    // Layer-wise plans on a 4-layer model, parts {0, 2} and {1, 3}: every part's local layers
    // differ from the model's. With copies of one set the plan must give the set's own cache
    // bit for bit (the dispatch to parts and local layers); with other codecs (K d4b12 /
    // V d8b10) it must match the CPU eval of the same plan.
    let deep = vecinfer_model::LlamaConfig {
        name: "tiny-random-llama-4-layers".into(),
        layers: 4,
        ..config.clone()
    };
    let deep_path = dir.join("tiny-random-llama-4-layers.gguf");
    vecinfer_engine::synthetic::write_random_llama(&deep_path, &deep, 7, false)?;
    let deep_llama = Llama::load(&deep_path)?;
    let deep_engine = Engine::open(WeightSource::Gguf(&deep_path), crate::gpu::engine_options())?;
    let random_set = |seed, k: &str, v: &str| {
        vecinfer_quant::synthetic::random_codebook_set(
            seed,
            k.parse().expect("valid codec"),
            v.parse().expect("valid codec"),
            vecinfer_quant::Granularity::Layer,
            deep.layers,
            deep.kv_heads,
            deep.head_dim,
        )
    };
    let int8_layout = CacheLayout {
        sinks: 4,
        residual: 8,
        precision: vecinfer_quant::WindowPrecision::Int8,
    };
    let same = CodebookPlan::layered(
        random_set(3, "d4b8", "d4b8"),
        vec![(random_set(3, "d4b8", "d4b8"), vec![1, 3])],
    )?;
    reports.push(guard(
        "tiny model: a plan of one set's copies = the set's cache, bit for bit",
        check_plan_equals_set(
            &deep_engine,
            &windows,
            &same,
            &random_set(3, "d4b8", "d4b8"),
            int8_layout,
        ),
    ));
    let mixed = CodebookPlan::layered(
        random_set(3, "d4b8", "d4b8"),
        vec![(random_set(5, "d4b12", "d8b10"), vec![1, 3])],
    )?;
    let fp16_layout = CacheLayout {
        sinks: 4,
        residual: 8,
        ..CacheLayout::default()
    };
    // A cache against the CPU eval of the same codebooks, with the fp16 and the int8 window
    // (24 windows for both: the 4096-entry key books flip more assignments between the GPU's
    // K and the CPU's; on 6 windows of the 2-layer model the fp16 window read +0.304%, mean
    // +0.29, sd 0.37 nats a window; H200, bench/results/model-s24/h200-checks).
    let against_cpu = |what: &str, codebooks, reports: &mut Vec<CheckReport>| {
        for layout in [fp16_layout, int8_layout] {
            let name = format!(
                "tiny model: perplexity vecinfer, {what} ({} window)",
                layout.precision
            );
            let method = Method::Vq(vecinfer_quant::KeyTransform::BOTH);
            let check = check_eval(
                &deep_engine,
                &deep_llama,
                &more_windows,
                method,
                codebooks,
                layout,
                4,
                3e-3,
            );
            let mut r = guard(&name, check);
            r.name = name;
            reports.push(r);
        }
    };
    against_cpu(
        &format!("layer-wise plan {}", mixed.label()),
        (Some(Codebooks::Plan(&mixed)), None),
        &mut reports,
    );
    // The layer probe (`eval --device cuda --only-layers`, `calibrate --probe-device cuda`):
    // its ends bit for bit, and layers 1 and 3 coded alone against the CPU's probe.
    let probe_set = random_set(3, "d4b8", "d4b8");
    reports.push(guard(
        "tiny model: only-layers, every layer = the set's cache, none = the fp16 cache, 3,1 = 1,3, bit for bit",
        check_only_layers_ends(&deep_engine, &windows, &probe_set, int8_layout),
    ));
    against_cpu(
        "d4b8/d4b8 on layers 1, 3 alone, the others fp16",
        (Some(Codebooks::Set(&probe_set)), Some(&[1, 3])),
        &mut reports,
    );
    let layered_int8 = CacheSpec::Layered {
        plan: &mixed,
        transform: vecinfer_quant::KeyTransform::BOTH,
        layout: int8_layout,
    };
    let long_mixed: Vec<Vec<u32>> = (0..3).map(|i| prompt(70 + i, 200)).collect();
    let long_mixed: Vec<&[u32]> = long_mixed.iter().map(|w| w.as_slice()).collect();
    reports.push(guard(
        "tiny model: layer-wise plan, 3 windows at every entry of the batch agree",
        check_entries_independent(&deep_engine, &long_mixed, &layered_int8, true),
    ));
    if vecinfer_engine::kernels::int8_row_cluster(engine.gpu.arch, config.head_dim).is_ok() {
        // FP16 and VQ parts in one cache, the projection writing both kinds of slot rows.
        let probe_int8 = CacheSpec::OnlyLayers {
            set: &probe_set,
            layers: &[1, 3],
            transform: vecinfer_quant::KeyTransform::BOTH,
            layout: int8_layout,
        };
        reports.push(guard(
            "tiny model: only-layers 1, 3, int8 window token writes agree",
            check_token_writes_agree(
                &deep_engine,
                &long_mixed,
                &probe_int8,
                true,
                Projections::Skinny,
            ),
        ));
        reports.push(guard(
            "tiny model: layer-wise plan, int8 window token writes agree",
            check_token_writes_agree(
                &deep_engine,
                &long_mixed,
                &layered_int8,
                true,
                Projections::Skinny,
            ),
        ));
    }
    let long: Vec<Vec<u32>> = (0..5).map(|i| prompt(40 + i, 300)).collect();
    let long: Vec<&[u32]> = long.iter().map(|w| w.as_slice()).collect();
    for (layout, count, graph) in [
        (
            CacheLayout {
                sinks: 4,
                residual: 8,
                ..CacheLayout::default()
            },
            5,
            true,
        ),
        (
            CacheLayout {
                sinks: 0,
                residual: 16,
                ..CacheLayout::default()
            },
            3,
            false,
        ),
    ] {
        let spec = CacheSpec::Vq {
            set: &set,
            transform: vecinfer_quant::KeyTransform::BOTH,
            layout,
        };
        let name = format!("tiny model: {count} windows at every entry of the batch agree");
        reports.push(guard(
            &name,
            check_entries_independent(&engine, &long[..count], &spec, graph),
        ));
    }
    let vq = CacheSpec::Vq {
        set: &set,
        transform: vecinfer_quant::KeyTransform::BOTH,
        layout: CacheLayout {
            sinks: 4,
            residual: 8,
            ..CacheLayout::default()
        },
    };
    // Int8 rows: written by the skinny projection's clusters or by `rope_qkv`, against the
    // append kernel's (the same rule, bit for bit).
    let vq_int8 = CacheSpec::Vq {
        set: &set,
        transform: vecinfer_quant::KeyTransform::BOTH,
        layout: CacheLayout {
            sinks: 4,
            residual: 8,
            precision: vecinfer_quant::WindowPrecision::Int8,
        },
    };
    let int8_written =
        vecinfer_engine::kernels::int8_row_cluster(engine.gpu.arch, config.head_dim).is_ok();
    for (spec, graph, projections) in [
        (&vq, true, Projections::Skinny),
        (&vq, false, Projections::Cublas),
        (&vq_int8, true, Projections::Skinny),
        (&vq_int8, false, Projections::Cublas),
        (&CacheSpec::Fp16, true, Projections::Skinny),
        (&CacheSpec::Fp16, false, Projections::Cublas),
    ] {
        if std::ptr::eq(spec, &vq_int8) && !int8_written {
            continue; // before sm_90 int8 rows take the append kernel only
        }
        let name = format!(
            "tiny model: {}{} token writes agree",
            spec.label(),
            window_label(spec)
        );
        reports.push(guard(
            &name,
            check_token_writes_agree(&engine, &long[..3], spec, graph, projections),
        ));
    }
    if int8_written {
        let name = "tiny model, head dim 128: int8 rows in clusters of 8 blocks, 8 sequences";
        reports.push(guard(name, check_wide_int8_writes(dir, &config, &prompt)));
    }
    Ok(reports)
}

/// The skinny projection's int8 rows at head dim 128 (clusters of 8 blocks, the most it
/// launches) and 8 sequences (its most rows): projection writes = appends, bit for bit.
fn check_wide_int8_writes(
    dir: &Path,
    config: &vecinfer_model::LlamaConfig,
    prompt: &dyn Fn(u64, usize) -> Vec<u32>,
) -> Result<CheckReport> {
    let wide = vecinfer_model::LlamaConfig {
        name: "tiny-random-llama-d128".into(),
        embedding: 512, // the GGUF's head dim is embedding / q_heads
        q_heads: 4,
        kv_heads: 2,
        head_dim: 128,
        ..config.clone()
    };
    let path = dir.join("tiny-random-llama-d128.gguf");
    vecinfer_engine::synthetic::write_random_llama(&path, &wide, 6, false)?;
    let engine = Engine::open(WeightSource::Gguf(&path), crate::gpu::engine_options())?;
    let set = vecinfer_quant::synthetic::random_codebook_set(
        4,
        "d4b8".parse().expect("valid codec"),
        "d8b12".parse().expect("valid codec"),
        vecinfer_quant::Granularity::Layer,
        wide.layers,
        wide.kv_heads,
        wide.head_dim,
    );
    let spec = CacheSpec::Vq {
        set: &set,
        transform: vecinfer_quant::KeyTransform::BOTH,
        layout: CacheLayout {
            sinks: 4,
            residual: 8,
            precision: vecinfer_quant::WindowPrecision::Int8,
        },
    };
    let windows: Vec<Vec<u32>> = (0..8).map(|i| prompt(60 + i, 80)).collect();
    let windows: Vec<&[u32]> = windows.iter().map(|w| w.as_slice()).collect();
    check_token_writes_agree(&engine, &windows, &spec, true, Projections::Skinny)
}

/// Checks on the real model: first-step and decode-step logits against the CPU pass (one
/// prompt, then a batch of two), greedy generation through the FP16 and the VQ caches (a long
/// prompt, so that most of it is quantized), and perplexity per method against the CPU eval
/// on `windows` windows of `ctx` tokens of `text`.
pub fn real_model_checks(
    model: &Path,
    set: Option<&CodebookSet>,
    text: Option<&Path>,
    ctx: usize,
    windows: usize,
    layout: CacheLayout,
) -> Result<Vec<CheckReport>> {
    let llama = Llama::load(model)?;
    let tokenizer = vecinfer_model::GgufTokenizer::load(model)?;
    let engine = Engine::open(WeightSource::Gguf(model), crate::gpu::engine_options())?;
    let mut reports = Vec::new();
    let france = tokenizer.encode("The capital of France is")?;
    let name = "SmolLM2: first-step and decode logits vs CPU";
    reports.push(guard(
        name,
        check_forward(
            &engine,
            &llama,
            name,
            std::slice::from_ref(&france),
            4,
            4,
            true,
            None,
            3e-2,
        ),
    ));
    let name = "SmolLM2: first-step and decode logits vs CPU, cuBLAS projections";
    reports.push(guard(
        name,
        check_forward(
            &engine,
            &llama,
            name,
            std::slice::from_ref(&france),
            4,
            4,
            true,
            Some(Projections::Cublas),
            3e-2,
        ),
    ));
    let a =
        tokenizer.encode("<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n")?;
    let b = tokenizer
        .encode("In 1905 Albert Einstein published four papers that changed physics, including")?;
    let n = a.len().min(b.len());
    let name = "SmolLM2: batch of 2 prompts vs CPU";
    reports.push(guard(
        name,
        check_forward(
            &engine,
            &llama,
            name,
            &[a[..n].to_vec(), b[..n].to_vec()],
            256,
            3,
            false,
            None,
            3e-2,
        ),
    ));
    let corpus = match text {
        Some(p) => crate::text::read_tokens(p, &tokenizer)?,
        None => Vec::new(),
    };
    // Generation: a chat prompt, a short fact, and a long prompt (most of it quantized by the
    // VQ cache).
    let mut specs = vec![CacheSpec::Fp16];
    if let Some(set) = set
        && set
            .keys
            .contains_key(vecinfer_quant::KeyTransform::BOTH.name())
    {
        specs.push(CacheSpec::Vq {
            set,
            transform: vecinfer_quant::KeyTransform::BOTH,
            layout,
        });
    }
    let long_prompt: Vec<u32> = if corpus.len() > 600 {
        corpus[..600].to_vec()
    } else {
        tokenizer.encode(
            &"The history of the city begins with a small settlement on the river. ".repeat(30),
        )?
    };
    let mut generations = Vec::new();
    let mut coherent = true;
    for spec in &specs {
        for (what, prompt, count) in [
            ("chat", &a, 32usize),
            ("france", &france, 12),
            ("long", &long_prompt, 64),
        ] {
            match crate::gpu::generate_tokens(
                &engine,
                prompt,
                count,
                spec,
                true,
                256,
                tokenizer.eos,
            ) {
                Ok(g) => {
                    let text = tokenizer.decode(&g.tokens)?;
                    if (what == "france" && !text.contains("Paris"))
                        || (what == "chat" && !text.contains('4'))
                    {
                        coherent = false;
                    }
                    generations.push(serde_json::json!({
                        "cache": g.cache, "prompt": what, "prompt_tokens": prompt.len(), "text": text,
                        "prefill_ms": g.prefill_ms, "ms_per_token": g.ms_per_token,
                    }));
                }
                Err(e) => {
                    coherent = false;
                    generations.push(serde_json::json!({
                        "cache": spec.label(), "prompt": what, "text": format!("error: {e}"),
                    }));
                }
            }
        }
    }
    reports.push(CheckReport {
        name: "SmolLM2: greedy generation, FP16 and VQ caches".into(),
        passed: coherent,
        detail: generations
            .iter()
            .map(|g| {
                format!(
                    "\n    [{} | {}] {:?}",
                    g["cache"].as_str().unwrap_or(""),
                    g["prompt"].as_str().unwrap_or(""),
                    g["text"].as_str().unwrap_or("")
                )
            })
            .collect::<String>(),
        values: serde_json::json!(generations),
    });
    if !corpus.is_empty() {
        let wins = crate::text::windows(&corpus, ctx, Some(windows))?;
        for spec in &specs {
            let (method, set) = match spec {
                CacheSpec::Fp16 => (Method::Fp16, None),
                CacheSpec::Vq { set, transform, .. } => (Method::Vq(*transform), Some(*set)),
                // The real model's checks use one set on every layer.
                CacheSpec::Layered { .. } | CacheSpec::OnlyLayers { .. } => continue,
            };
            let name = format!("SmolLM2: perplexity {} GPU vs CPU", spec.label());
            reports.push(guard(
                &name,
                check_eval(
                    &engine,
                    &llama,
                    &wins,
                    method,
                    (set.map(Codebooks::Set), None),
                    layout,
                    windows,
                    3e-3,
                ),
            ));
        }
        // Each window at every entry: up to 4 entries take the skinny projections' and the VQ
        // cache's small-batch defaults, 5 to 8 the default tiles.
        let mut counts = vec![
            wins.len().min(SMALL_BATCH),
            wins.len().min(vecinfer_engine::SKINNY_ROWS),
        ];
        counts.dedup();
        for count in counts {
            if count < 2 || Projections::Skinny.check(&engine.config, count).is_err() {
                continue;
            }
            for spec in &specs {
                let name = format!(
                    "SmolLM2: {} {count} windows at every entry of the batch agree",
                    spec.label()
                );
                reports.push(guard(
                    &name,
                    check_entries_independent(&engine, &wins[..count], spec, true),
                ));
            }
        }
        // The projection's own K/V writes against an append per layer, at both projections.
        let count = wins.len().min(SMALL_BATCH);
        for spec in &specs {
            for projections in [Projections::Skinny, Projections::Cublas] {
                let name = format!("SmolLM2: {} token writes agree", spec.label());
                reports.push(guard(
                    &name,
                    check_token_writes_agree(&engine, &wins[..count], spec, true, projections),
                ));
            }
        }
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::{EntryDiff, WindowSpread, entry_orders};

    #[test]
    fn every_window_sits_at_every_entry_and_changes_neighbours() {
        let orders = entry_orders(4);
        for e in 0..4 {
            let mut at: Vec<usize> = orders.iter().map(|o| o[e]).collect();
            at.push(e); // the first run
            at.sort_unstable();
            at.dedup();
            assert_eq!(at, vec![0, 1, 2, 3], "entry {e}");
        }
        assert!(orders.contains(&vec![3, 2, 1, 0]));
        assert_eq!(entry_orders(2), vec![vec![1, 0]]);
    }

    #[test]
    fn an_entry_diff_names_the_first_difference() {
        let same = vec![vec![1u8, 2], vec![3, 4]];
        let other = vec![vec![1u8, 2], vec![3, 5]];
        let nll = [0.5f32, 0.25, 1.0];
        assert!(EntryDiff::of((&nll, &nll), (&same, &same)).identical());
        let d = EntryDiff::of((&nll, &[0.5, 0.3, 1.0]), (&same, &other));
        assert_eq!(d.position, Some(1));
        assert_eq!(d.layer_and_byte, Some((1, Some(1))));
        // NaN is never identical, not even to itself.
        let nan = [0.5f32, f32::NAN, 1.0];
        assert_eq!(
            EntryDiff::of((&nan, &nan), (&same, &same)).position,
            Some(1)
        );
    }

    #[test]
    fn the_window_spread_is_of_gpu_minus_cpu() {
        let one = WindowSpread::of(&[12.0], &[10.0]);
        assert_eq!(
            one.to_string(),
            "mean +2.00, sd n/a, from +2.00 to +2.00 nats"
        );
        let s = WindowSpread::of(&[12.0, 8.0, 13.0], &[10.0, 10.0, 10.0]);
        assert_eq!((s.mean, s.min, s.max), (1.0, -2.0, 3.0));
        assert!((s.std - 7f64.sqrt()).abs() < 1e-12, "{}", s.std);
        assert_eq!(
            s.to_string(),
            "mean +1.00, sd 2.65, from -2.00 to +3.00 nats"
        );
    }
}
