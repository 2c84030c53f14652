//! `generate --device cuda` and `eval --device cuda`: the GPU engine (`vecinfer-engine`)
//! behind the same commands as the CPU pass.

use crate::error::{CliError, Result};
use crate::evaluate::MethodResult;
use std::path::Path;
use std::time::Instant;
use vecinfer_engine::eval::{GpuEvalResult, evaluate};
use vecinfer_engine::{
    CacheShape, CacheSpec, Engine, EngineOptions, Projections, Session, WeightSource,
};
use vecinfer_model::GgufTokenizer;
use vecinfer_quant::{CacheLayout, CodebookPlan, CodebookSet, Codebooks, Method};

/// Where a command runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Device {
    Cpu,
    Cuda,
}

/// The KV cache of `generate --device cuda`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CacheKind {
    Fp16,
    Vq,
}

/// The cache of a method: fp16, or a VQ method with the codebooks' key transform.
pub fn spec_for<'a>(
    method: Method,
    set: Option<&'a CodebookSet>,
    layout: CacheLayout,
) -> Result<CacheSpec<'a>> {
    match method {
        Method::Fp16 => Ok(CacheSpec::Fp16),
        Method::Vq(transform) => {
            let set = set.ok_or_else(|| {
                CliError::Invalid(format!("method {method} needs --codebooks FILE"))
            })?;
            if set.layer(0, transform)?.rotation.is_some() {
                return Err(CliError::Invalid(format!(
                    "{method} of these codebooks uses a learned key rotation (calibrate --rotation learned), which the GPU kernels do not apply: evaluate it with --device cpu"
                )));
            }
            Ok(CacheSpec::Vq {
                set,
                transform,
                layout,
            })
        }
        Method::Kivi2 => Err(CliError::Invalid(
            "kivi2 has no GPU kernel: evaluate it on the CPU (--device cpu)".into(),
        )),
    }
}

/// [`spec_for`] with a plan: a uniform plan is its one set's cache, a layered one a cache per
/// part ([`CacheSpec::Layered`]).
pub fn plan_spec_for<'a>(
    method: Method,
    plan: Option<&'a CodebookPlan>,
    layout: CacheLayout,
) -> Result<CacheSpec<'a>> {
    match (method, plan) {
        (Method::Vq(transform), Some(plan)) if !plan.is_uniform() => {
            for part in plan.parts() {
                spec_for(method, Some(&part.set), layout)?;
            }
            Ok(CacheSpec::Layered {
                plan,
                transform,
                layout,
            })
        }
        _ => spec_for(method, plan.map(|p| &p.parts()[0].set), layout),
    }
}

pub struct GenerateOptions<'a> {
    pub prompt: &'a str,
    pub tokens: usize,
    pub spec: CacheSpec<'a>,
    pub graph: bool,
    pub chunk: usize,
}

/// What a generation produced and how fast.
pub struct Generated {
    pub tokens: Vec<u32>,
    pub cache: String,
    pub prefill_ms: f64,
    pub ms_per_token: f64,
}

/// Greedy generation on an open engine: FP16 prefill of the prompt in chunks (its K/V then go
/// to the cache, bulk-quantized by a VQ cache), then decode steps through the cache.
pub fn generate_tokens(
    engine: &Engine,
    prompt: &[u32],
    tokens: usize,
    spec: &CacheSpec<'_>,
    graph: bool,
    chunk: usize,
    eos: Option<u32>,
) -> Result<Generated> {
    let c = &engine.config;
    let shape = CacheShape {
        layers: c.layers,
        batch: 1,
        q_heads: c.q_heads,
        kv_heads: c.kv_heads,
        head_dim: c.head_dim,
        capacity: prompt.len() + tokens + 1,
    };
    let cache = spec.build(engine, shape)?;
    let description = cache.describe();
    let mut session = Session::new(engine, cache)?;
    let t0 = Instant::now();
    session.prefill(&[prompt], chunk)?;
    let prefill_ms = t0.elapsed().as_secs_f64() * 1e3;
    let mut out = Vec::new();
    let t1 = Instant::now();
    for i in 0..tokens {
        let next = session.next_tokens()?[0];
        if Some(next) == eos {
            break;
        }
        out.push(next);
        if i + 1 < tokens {
            session.step(graph)?;
        }
    }
    let ms_per_token = t1.elapsed().as_secs_f64() * 1e3 / out.len().max(1) as f64;
    Ok(Generated {
        tokens: out,
        cache: description,
        prefill_ms,
        ms_per_token,
    })
}

/// `generate --device cuda`: the text and a timing line.
pub fn generate_cuda(model: &Path, opts: GenerateOptions<'_>) -> Result<(String, String)> {
    let tokenizer = GgufTokenizer::load(model)?;
    let ids = tokenizer.encode(opts.prompt)?;
    if ids.is_empty() {
        return Err(vecinfer_model::ModelError::EmptyText.into());
    }
    let start = Instant::now();
    let engine = Engine::open(WeightSource::Gguf(model), engine_options())?;
    let loaded = start.elapsed().as_secs_f64();
    let g = generate_tokens(
        &engine,
        &ids,
        opts.tokens,
        &opts.spec,
        opts.graph,
        opts.chunk,
        tokenizer.eos,
    )?;
    let text = format!("{}{}", opts.prompt, tokenizer.decode(&g.tokens)?);
    let timing = format!(
        "{} on {}: cache {}; {} prompt tokens prefilled in {:.1} ms, {} tokens at {:.2} ms/token ({}), weights loaded in {:.1} s",
        engine.config.name,
        engine.gpu.name,
        g.cache,
        ids.len(),
        g.prefill_ms,
        g.tokens.len(),
        g.ms_per_token,
        if opts.graph { "CUDA graph" } else { "eager" },
        loaded
    );
    Ok((text, timing))
}

/// Where the commands look for tuned configs: `VECINFER_TUNED_CONFIGS` (a folder or file, or
/// `off` for the default heuristic), else the repository's `tuned-configs/` from the working
/// folder.
pub fn tuned_configs() -> Option<std::path::PathBuf> {
    match std::env::var("VECINFER_TUNED_CONFIGS") {
        Ok(v) if v == "off" || v == "0" => None,
        Ok(v) if !v.trim().is_empty() => Some(v.into()),
        _ => Some("tuned-configs".into()),
    }
}

/// The engine options of the commands: [`tuned_configs`], the rest default.
pub fn engine_options() -> EngineOptions {
    EngineOptions {
        tuned_configs: tuned_configs(),
        ..EngineOptions::default()
    }
}

/// [`plan_spec_for`], with `only` (`--only-layers`): those layers coded by a uniform plan's
/// set, the others fp16 ([`CacheSpec::OnlyLayers`]).
pub fn probe_spec_for<'a>(
    method: Method,
    plan: Option<&'a CodebookPlan>,
    layout: CacheLayout,
    only: Option<&'a [usize]>,
) -> Result<CacheSpec<'a>> {
    let (Some(layers), Method::Vq(_)) = (only, method) else {
        return plan_spec_for(method, plan, layout);
    };
    let set = match plan {
        Some(p) if !p.is_uniform() => {
            return Err(CliError::BadOption {
                option: "--only-layers",
                given: format!("with the layer-wise plan {}", p.label()),
                valid: "on the GPU the probe codes its layers with one set: drop --layer-codebooks and give a single-set --codebooks file (not a plan), or use --device cpu".into(),
            });
        }
        p => p.map(|p| &p.parts()[0].set),
    };
    let set =
        set.ok_or_else(|| CliError::Invalid(format!("method {method} needs --codebooks FILE")))?;
    if let Some(&bad) = layers.iter().find(|&&l| l >= set.meta.layers) {
        return Err(CliError::BadOption {
            option: "--only-layers",
            given: bad.to_string(),
            valid: format!(
                "layers below {}, the codebooks' layer count",
                set.meta.layers
            ),
        });
    }
    only_layers_spec(method, set, layout, layers)
}

/// `layers` coded by `set` as the VQ method `method`, the others fp16; refused as [`spec_for`]
/// refuses the set (a learned rotation) or the method.
fn only_layers_spec<'a>(
    method: Method,
    set: &'a CodebookSet,
    layout: CacheLayout,
    layers: &'a [usize],
) -> Result<CacheSpec<'a>> {
    match spec_for(method, Some(set), layout)? {
        CacheSpec::Vq { transform, .. } => Ok(CacheSpec::OnlyLayers {
            set,
            layers,
            transform,
            layout,
        }),
        _ => Err(CliError::Invalid(format!(
            "only some layers coded needs a VQ method, not {method}"
        ))),
    }
}

/// The perplexity of `windows` (one batch) on an open engine with only `layer` coded by `set`
/// as `method` (`None`: every layer fp16): one evaluation of `calibrate --layer-codecs top:N`'s
/// ranking on the GPU.
pub fn probe_perplexity(
    engine: &Engine,
    windows: &[&[u32]],
    (set, method, layout): (&CodebookSet, Method, CacheLayout),
    layer: Option<usize>,
) -> Result<f64> {
    let spec = match layer.as_ref() {
        None => CacheSpec::Fp16,
        Some(layer) => only_layers_spec(method, set, layout, std::slice::from_ref(layer))?,
    };
    spec_perplexity(engine, windows, &spec)
}

/// The perplexity of `windows` on an open engine with the cache `spec`: one evaluation of
/// calibrate's ranking or budget on the GPU.
pub fn spec_perplexity(engine: &Engine, windows: &[&[u32]], spec: &CacheSpec<'_>) -> Result<f64> {
    // Up to eval's default batch at once: a long --probe-windows list must not ask for one
    // huge batch after the recording and k-means.
    let batch = windows.len().min(64);
    let r = evaluate(engine, windows, spec, (batch, None), true, &|_, _| {})?;
    engine.gpu.context.check_err().map_err(|e| {
        CliError::Invalid(format!(
            "a driver call failed after the ranking's GPU evaluation ({e})"
        ))
    })?;
    Ok(r.perplexity)
}

/// GPU perplexity per method over `windows`; with `only`, VQ methods code those layers alone.
#[allow(clippy::too_many_arguments)]
pub fn eval_cuda(
    model: &Path,
    windows: &[&[u32]],
    methods: &[Method],
    (plan, only): (Option<&CodebookPlan>, Option<&[usize]>),
    layout: CacheLayout,
    batch: (usize, Option<Projections>),
    graph: bool,
    progress: &dyn Fn(&str, usize, usize),
) -> Result<Vec<(MethodResult, GpuEvalResult)>> {
    // Every method's spec is checked before any runs.
    for &method in methods {
        probe_spec_for(method, plan, layout, only)?;
    }
    // Every method's windows must quantize something, checked before any runs.
    let coded = methods
        .iter()
        .map(|&m| crate::evaluate::coded_tokens(m, windows, layout))
        .collect::<Result<Vec<_>>>()?;
    let mut out = Vec::new();
    for (&method, coded) in methods.iter().zip(coded) {
        // One engine per method: a method's teardown (graphs, caches) cannot leave a
        // recorded driver error for the next one to trip over (seen at ctx 8192 with graphs
        // after the fp16 method, H100, bench/results/h100/model/run-s5); it is reported here.
        let engine = Engine::open(WeightSource::Gguf(model), engine_options())?;
        if let Some(&bad) = only
            .into_iter()
            .flatten()
            .find(|&&l| l >= engine.config.layers)
        {
            return Err(CliError::BadOption {
                option: "--only-layers",
                given: bad.to_string(),
                valid: format!("layers 0 to {} (the model's)", engine.config.layers - 1),
            });
        }
        let spec = probe_spec_for(method, plan, layout, only)?;
        let r = evaluate(&engine, windows, &spec, batch, graph, &|d, t| {
            progress(method.name(), d, t)
        })?;
        let context = engine.gpu.context.clone();
        drop(engine);
        if let Err(e) = context.check_err() {
            eprintln!(
                "warning: {}: a driver call during teardown failed ({e}); the perplexity was computed before it",
                method.name()
            );
        }
        let at = (layout, crate::evaluate::context(windows), None);
        let layers = plan.map_or(1, |p| p.layers());
        let codebooks = plan.map(Codebooks::Plan);
        let ((key_bits, value_bits), effective) =
            crate::evaluate::method_bits(method, codebooks, at, layers, only)?;
        out.push((
            MethodResult {
                method: method.name().to_string(),
                key_bits,
                value_bits,
                perplexity: r.perplexity,
                nll_sum: r.nll_sum,
                tokens_scored: r.tokens_scored,
                coded_tokens: coded,
                // The GPU path does not measure it (the CPU eval does).
                attention_relative_error: None,
                seconds: r.seconds,
                effective,
                anchors: None,
                window_nll: r.window_nll.clone(),
            },
            r,
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vecinfer_quant::synthetic::random_codebook_set;
    use vecinfer_quant::{Granularity, KeyTransform};

    #[test]
    fn learned_rotations_are_refused_before_anything_loads() {
        let codec = "d4b8".parse().unwrap();
        let mut set = random_codebook_set(1, codec, codec, Granularity::Layer, 1, 2, 16);
        let vecinfer = Method::Vq(KeyTransform::BOTH);
        assert!(spec_for(vecinfer, Some(&set), CacheLayout::default()).is_ok());
        let h = vecinfer_quant::rotation::hadamard_matrix(16).unwrap();
        set.rotation = Some(vec![[h.clone(), h].concat()]);
        let err = spec_for(vecinfer, Some(&set), CacheLayout::default())
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("learned key rotation") && err.contains("--device cpu"),
            "{err}"
        );
        // The file's other methods keep the Hadamard and run.
        let hadamard = Method::Vq(KeyTransform::HADAMARD);
        assert!(spec_for(hadamard, Some(&set), CacheLayout::default()).is_ok());
    }
}
