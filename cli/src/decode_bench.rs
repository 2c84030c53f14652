//! `vecinfer decode-bench`: whole-model decode steps over a batch × context grid, the FP16 cache
//! against VQ codecs, eager and from CUDA graphs, with the step's byte limit, memory, the
//! largest batch per cache, the share of attention / append / matmuls / rest, and a plot.

use crate::error::{CliError, Result, io_error};
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use vecinfer_codegen::ForwardConfig;
use vecinfer_engine::bench::{
    BenchPoint, BenchSteps, DecodeBenchRow, Spread, capacity_for, fp16_tilings, free_memory,
    largest_batch, measure_bandwidth, run_point,
};
use vecinfer_engine::{CacheSpec, Engine, EngineOptions, Projections, TokenWrites, WeightSource};
use vecinfer_quant::plan::parse_layer_list;
use vecinfer_quant::{CacheLayout, CodebookPlan, CodebookSet, Granularity, KeyTransform, VqCodec};

#[derive(clap::Args)]
pub struct DecodeBenchArgs {
    /// A Llama-architecture GGUF; default: the fetched SmolLM2 when present, else its shape
    /// with random weights.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Random weights of SmolLM2's shape even when the model is present (speed does not
    /// depend on the values).
    #[arg(long)]
    pub random_weights: bool,
    /// Caches: fp16 and VQ codec pairs K/V (e.g. d4b8/d4b8 = 2 bits), comma-separated.
    #[arg(long, default_value = "fp16,d4b8/d4b8,d2b8/d2b8")]
    pub caches: String,
    /// Codebooks for the VQ caches whose codecs they match (else random codebooks: speed
    /// does not depend on them).
    #[arg(long)]
    pub codebooks: Option<PathBuf>,
    /// A layer-wise bit allocation for every VQ cache of --caches: these layers take these
    /// codecs (random codebooks), e.g. 17-18,20,23=d4b12/d4b8; repeat for more groups.
    #[arg(long, value_name = "LAYERS=K/V")]
    pub layer_codecs: Vec<String>,
    #[arg(long, default_value = "1,16,64")]
    pub batches: String,
    #[arg(long, default_value = "1024,8192,32768,131072")]
    pub contexts: String,
    /// Contexts at which each cache also runs the largest batch that fits.
    #[arg(long, default_value = "8192")]
    pub largest_at: String,
    #[arg(long, default_value_t = 128)]
    pub residual: usize,
    #[arg(long, default_value_t = 0)]
    pub sinks: usize,
    /// How the VQ caches hold their sinks and window: fp16, or int8 (rows of int8 codes and an
    /// fp16 scale; the QKV projection writes them on sm_90 and later, else the append kernel).
    #[arg(long, default_value = "fp16")]
    pub window: String,
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// GPU memory left free when sizing the largest batch, GB.
    #[arg(long, default_value_t = 3.0)]
    pub reserve_gb: f64,
    /// The FP16 cache's decode tiling: `each` (the engine's default: every FP16 point with the
    /// tiling fastest at its own batch and context, timed once per shape), `steps` (every FP16
    /// point run with each tiling, the fastest whole step kept: the kernel alone ranks tilings
    /// a few percent apart badly), `off` (the forward config's tiling everywhere), or
    /// BATCHxCONTEXT (e.g. 64x8192: the one fastest there, everywhere). The rows name the
    /// tiling run.
    #[arg(long, default_value = "each")]
    pub tune_fp16: String,
    /// How steps run their projections: auto (skinny kernels for batches up to 8, else
    /// cuBLAS), cublas, skinny, or both (each batch up to 8 also with the other path; its
    /// rows are labelled with the path).
    #[arg(long, default_value = "auto")]
    pub projections: String,
    /// Skinny projections as programmatic dependent launches (sm_90): on, off, or both (each
    /// skinny point also without; those rows are labelled "no PDL").
    #[arg(long, default_value = "on")]
    pub dependent_launches: String,
    /// How a step's new K/V reach each cache: own (each cache's preference: the VQ cache's
    /// QKV projection writes them, the FP16 cache appends; `VECINFER_TOKEN_WRITES` overrides
    /// it), projection, append, or both (each point both ways; rows are labelled with the way
    /// taken, and with the way asked where the cache could not take it: a VQ cache without a
    /// window always appends, and one with an int8 window before sm_90). The JSON's
    /// `token_writes` is the way taken.
    #[arg(long, default_value = "own")]
    pub token_writes: String,
    /// Spread each batch's lengths around the context (`vecinfer_runtime::spread_lengths`, as
    /// `bench --ragged`): a server's ragged batch of the same total length. The --largest-at
    /// points are left out, and rows get no HF ratio (its baseline times equal lengths).
    #[arg(long)]
    pub ragged: bool,
    /// JSON of `../shared/bench/hf_decode_baseline.py --json` from the same machine.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    #[arg(long)]
    pub json: Option<PathBuf>,
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// No GPU: merge the rows of earlier `--json` files (comma-separated), print the table and
    /// the targets, write --json and --plot.
    #[arg(long)]
    pub replot: Option<String>,
}

/// Comma-separated numbers (`what` names the flag in the error).
pub(crate) fn list(s: &str, what: &str) -> Result<Vec<usize>> {
    s.split(',')
        .filter(|x| !x.trim().is_empty())
        .map(|x| {
            x.trim()
                .parse()
                .map_err(|_| CliError::Invalid(format!("{what}: {x:?} is not a number")))
        })
        .collect()
}

enum CacheChoice {
    Fp16,
    Vq(VqCodec, VqCodec),
}

/// A `--layer-codecs` group: K and V codecs, and the layers that take them.
type LayerCodecs = ((VqCodec, VqCodec), Vec<usize>);

/// `--layer-codecs LAYERS=K/V` items.
fn parse_layer_codecs(items: &[String]) -> Result<Vec<LayerCodecs>> {
    items
        .iter()
        .map(|item| {
            let (layers, codecs) = item.split_once('=').ok_or_else(|| CliError::BadOption {
                option: "--layer-codecs",
                given: item.clone(),
                valid: "LAYERS=K/V, e.g. 17-18,20,23=d4b12/d4b8".into(),
            })?;
            let (k, v) = codecs.split_once('/').unwrap_or((codecs, codecs));
            Ok(((k.parse()?, v.parse()?), parse_layer_list(layers)?))
        })
        .collect()
}

fn parse_caches(s: &str) -> Result<Vec<CacheChoice>> {
    s.split(',')
        .filter(|x| !x.trim().is_empty())
        .map(|x| {
            let x = x.trim();
            if x == "fp16" {
                return Ok(CacheChoice::Fp16);
            }
            let (k, v) = x.split_once('/').unwrap_or((x, x));
            Ok(CacheChoice::Vq(k.parse()?, v.parse()?))
        })
        .collect()
}

/// The projection paths a point runs (`None`: the session's default), the default first.
fn projection_runs(choice: &str, default: Projections) -> Result<Vec<Option<Projections>>> {
    let other = match default {
        Projections::Skinny => Projections::Cublas,
        Projections::Cublas => Projections::Skinny,
    };
    match choice {
        "auto" => Ok(vec![None]),
        "cublas" => Ok(vec![Some(Projections::Cublas)]),
        "skinny" => Ok(vec![Some(Projections::Skinny)]),
        "both" if default == Projections::Skinny => Ok(vec![None, Some(other)]),
        "both" => Ok(vec![None]),
        other => Err(CliError::Invalid(format!(
            "--projections {other}: valid values are auto, cublas, skinny and both"
        ))),
    }
}

/// HF transformers' rows by (batch, context).
fn read_baseline(path: &Path) -> Result<BTreeMap<(usize, usize), f64>> {
    let text = std::fs::read_to_string(path).map_err(io_error(path))?;
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text)
        .map_err(|e| CliError::Invalid(format!("{}: {e}", path.display())))?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some((
                (r["batch"].as_u64()? as usize, r["ctx"].as_u64()? as usize),
                r["tokens_per_s"].as_f64()?,
            ))
        })
        .collect())
}

/// `--replot`: the rows of earlier runs, merged.
fn replot(args: &DecodeBenchArgs, files: &str) -> Result<()> {
    let mut rows: Vec<DecodeBenchRow> = Vec::new();
    let mut first: Option<serde_json::Value> = None;
    let mut seen: Vec<&Path> = Vec::new();
    for file in files.split(',').filter(|f| !f.trim().is_empty()) {
        let path = Path::new(file.trim());
        if seen.contains(&path) {
            return Err(CliError::Invalid(format!(
                "--replot: {} is named twice; name each file once",
                path.display()
            )));
        }
        seen.push(path);
        let text = std::fs::read_to_string(path).map_err(io_error(path))?;
        let report: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| CliError::Invalid(format!("{}: {e}", path.display())))?;
        let more: Vec<DecodeBenchRow> = serde_json::from_value(report["rows"].clone())
            .map_err(|e| CliError::Invalid(format!("{}: rows: {e}", path.display())))?;
        if more.is_empty() {
            return Err(CliError::Invalid(format!(
                "--replot: {} has no rows (give decode-bench --json files with results)",
                path.display()
            )));
        }
        // One table and one plot are one GPU's: rows of two GPUs would read as one run.
        if let Some(f) = &first
            && f["device"] != report["device"]
        {
            return Err(CliError::Invalid(format!(
                "--replot: {} is from {}, the first file from {}; replot one GPU's files at a time",
                path.display(),
                report["device"],
                f["device"]
            )));
        }
        rows.extend(more);
        first.get_or_insert(report);
    }
    let first = first.ok_or_else(|| CliError::Invalid("--replot: no files".into()))?;
    let baseline = args.baseline.as_deref().map(read_baseline).transpose()?;
    let model_context = first["model_context"].as_u64().unwrap_or(8192) as usize;
    print!("{}", table(&rows, baseline.as_ref()));
    print!("{}", targets(&rows, baseline.as_ref(), model_context));
    // The plot first: a plot that fails leaves an existing --json file as it was.
    if let Some(path) = &args.plot {
        let device = first["device"].as_str().unwrap_or("GPU");
        throughput_svg(&rows, baseline.as_ref(), device, model_context, path)?;
    }
    if let Some(path) = &args.json {
        let mut report = first.clone();
        report["rows"] = serde_json::to_value(&rows).expect("serialises");
        report["merged_from"] = serde_json::json!(files);
        crate::error::write_output(
            path,
            serde_json::to_string_pretty(&report)
                .expect("serialises")
                .as_bytes(),
        )?;
    }
    Ok(())
}

/// `--token-writes`: the ways each point runs (`None`: the cache's own preference).
fn token_write_runs(arg: &str) -> Result<Vec<Option<TokenWrites>>> {
    match arg {
        "own" => Ok(vec![None]),
        "projection" => Ok(vec![Some(TokenWrites::Projection)]),
        "append" => Ok(vec![Some(TokenWrites::Append)]),
        "both" => Ok(vec![
            Some(TokenWrites::Projection),
            Some(TokenWrites::Append),
        ]),
        other => Err(CliError::Invalid(format!(
            "--token-writes {other}: valid values are own, projection, append and both"
        ))),
    }
}

pub fn run(args: DecodeBenchArgs) -> Result<()> {
    if let Some(files) = &args.replot {
        return replot(&args, files);
    }
    let fetched = vecinfer_model::fetch::default_model_path();
    let model = match (&args.model, args.random_weights) {
        (_, true) => None,
        (Some(p), false) => Some(p.clone()),
        (None, false) => fetched.is_file().then_some(fetched),
    };
    let contexts = list(&args.contexts, "--contexts")?;
    let batches = list(&args.batches, "--batches")?;
    let largest_at = if args.ragged {
        if !list(&args.largest_at, "--largest-at")?.is_empty() {
            eprintln!("--ragged: the --largest-at points are left out (they size equal batches)");
        }
        Vec::new()
    } else {
        list(&args.largest_at, "--largest-at")?
    };
    let spread = if args.ragged {
        Spread::Ragged
    } else {
        Spread::Equal
    };
    crate::error::at_least_one("--steps", args.steps, "at least 1 timed step")?;
    if !(args.reserve_gb.is_finite() && args.reserve_gb >= 0.0) {
        return Err(CliError::BadOption {
            option: "--reserve-gb",
            given: args.reserve_gb.to_string(),
            valid: "a non-negative number of GB".into(),
        });
    }
    // A plan's codecs are checked before the GPU; its codebooks are random, so given ones
    // would be silently replaced, and without a VQ cache there is nothing to apply it to.
    let layer_codecs = parse_layer_codecs(&args.layer_codecs)?;
    let choices = parse_caches(&args.caches)?;
    if !layer_codecs.is_empty() {
        if args.codebooks.is_some() {
            return Err(CliError::BadOption {
                option: "--layer-codecs",
                given: "with --codebooks".into(),
                valid: "a plan's caches take random codebooks (speed does not depend on them); drop --codebooks".into(),
            });
        }
        if !choices.iter().any(|c| matches!(c, CacheChoice::Vq(..))) {
            return Err(CliError::BadOption {
                option: "--layer-codecs",
                given: format!("with --caches {}", args.caches),
                valid: "a VQ cache in --caches (e.g. d4b8/d8b8) for the plan's other layers".into(),
            });
        }
    }
    // Read (and refused, if it is not one codebook set) before the GPU opens.
    let provided = args
        .codebooks
        .as_deref()
        .map(CodebookSet::load)
        .transpose()?;
    let steps = BenchSteps {
        warmup: args.warmup,
        timed: args.steps,
    };
    let longest = contexts
        .iter()
        .flat_map(|&context| batches.iter().map(move |&b| spread.longest(b, context)))
        .chain(largest_at.iter().copied())
        .max()
        .unwrap_or(0);
    let max_positions = capacity_for(longest, steps);
    // `each`, `off`, or the one point to tune at (both numbers positive), checked before the GPU.
    let tune_at: Option<(usize, usize)> = match args.tune_fp16.as_str() {
        "each" | "off" | "steps" => None,
        point => Some(
            point
                .split_once('x')
                .and_then(|(b, s)| Some((b.parse().ok()?, s.parse().ok()?)))
                .filter(|&(b, s): &(usize, usize)| b > 0 && s > 0)
                .ok_or_else(|| {
                    CliError::Invalid(format!(
                        "--tune-fp16 {point}: give each, steps, off or BATCHxCONTEXT with both positive (e.g. 1x131072)"
                    ))
                })?,
        ),
    };
    let fp16_tiling = match args.tune_fp16.as_str() {
        "each" => vecinfer_engine::Fp16Tiling::Fastest,
        // `steps` sets the engine's tiling itself before each run.
        _ => vecinfer_engine::Fp16Tiling::Engine,
    };
    let options = |forward| EngineOptions {
        max_positions,
        forward,
        fp16_tiling,
        ..crate::gpu::engine_options()
    };
    let source = || match &model {
        Some(p) => WeightSource::Gguf(p),
        None => WeightSource::Random {
            config: vecinfer_engine::synthetic::smollm2_config(),
            seed: 1,
        },
    };
    let mut engine = Engine::open(source(), options(None))?;
    let weights = match &model {
        Some(p) => p.display().to_string(),
        None => "random weights (SmolLM2-135M shape)".into(),
    };
    let bandwidth = measure_bandwidth(&engine)?;
    eprintln!(
        "{} ({}), {weights}; device copy {:.2} TB/s (read + write)",
        engine.gpu.name,
        engine.gpu.arch,
        bandwidth / 1e12
    );
    let mut tuning = Vec::new();
    if let Some((b, s)) = tune_at {
        let mut best = (f64::INFINITY, engine.kernels.config);
        for (config, ms) in fp16_tilings(&engine, b, s)? {
            let kv = 2.0 * 2.0 * (b * s * engine.config.kv_heads * engine.config.head_dim) as f64;
            let tb_per_s = kv / (ms * 1e-3) / 1e12;
            eprintln!(
                "fp16 attention {}: {ms:.4} ms per layer at {b}x{s} ({tb_per_s:.2} TB/s)",
                config.name()
            );
            tuning.push(serde_json::json!({"config": config, "ms": ms, "tb_per_s": tb_per_s}));
            if ms < best.0 {
                best = (ms, config);
            }
        }
        engine.kernels = vecinfer_engine::ForwardKernels::new(&engine.gpu, best.1)?;
        eprintln!("using {}", best.1.name());
    }
    let layout = CacheLayout {
        sinks: args.sinks,
        residual: args.residual,
        precision: args.window.parse()?,
    };
    let c = engine.config.clone();
    let matches = |k: VqCodec, v: VqCodec| {
        provided
            .as_ref()
            .is_some_and(|s| s.meta.key_codec == k && s.meta.value_codec == v)
    };
    let synthetic: Vec<Option<CodebookSet>> = choices
        .iter()
        .map(|choice| match *choice {
            // A plan's caches make their own sets below.
            CacheChoice::Vq(k, v) if !matches(k, v) && layer_codecs.is_empty() => {
                Some(vecinfer_quant::synthetic::random_codebook_set(
                    7,
                    k,
                    v,
                    Granularity::Layer,
                    c.layers,
                    c.kv_heads,
                    c.head_dim,
                ))
            }
            _ => None,
        })
        .collect();
    let plans: Vec<Option<CodebookPlan>> = choices
        .iter()
        .map(|choice| match *choice {
            CacheChoice::Vq(k, v) if !layer_codecs.is_empty() => {
                let random = |(k, v): (VqCodec, VqCodec)| {
                    vecinfer_quant::synthetic::random_codebook_set(
                        7,
                        k,
                        v,
                        Granularity::Layer,
                        c.layers,
                        c.kv_heads,
                        c.head_dim,
                    )
                };
                let overrides = layer_codecs
                    .iter()
                    .map(|(codecs, layers)| (random(*codecs), layers.clone()))
                    .collect();
                Ok(Some(CodebookPlan::layered(random((k, v)), overrides)?))
            }
            _ => Ok(None),
        })
        .collect::<Result<_>>()?;
    let specs: Vec<CacheSpec<'_>> = choices
        .iter()
        .zip(&synthetic)
        .zip(&plans)
        .map(|((choice, own), plan)| match (choice, plan) {
            (CacheChoice::Fp16, _) => CacheSpec::Fp16,
            (CacheChoice::Vq(..), Some(plan)) => CacheSpec::Layered {
                plan,
                transform: KeyTransform::BOTH,
                layout,
            },
            (CacheChoice::Vq(..), None) => CacheSpec::Vq {
                set: own
                    .as_ref()
                    .or(provided.as_ref())
                    .expect("a provided set matches, or a random one was made"),
                transform: KeyTransform::BOTH,
                layout,
            },
        })
        .collect();
    let baseline = args.baseline.as_deref().map(read_baseline).transpose()?;
    let reserve = (args.reserve_gb * 1e9) as usize;
    projection_runs(&args.projections, Projections::Cublas)?;
    let pdl_runs: Vec<bool> = match args.dependent_launches.as_str() {
        "on" => vec![true],
        "off" => vec![false],
        "both" => vec![true, false],
        other => {
            return Err(CliError::Invalid(format!(
                "--dependent-launches {other}: valid values are on, off and both"
            )));
        }
    };
    let writes_runs = token_write_runs(&args.token_writes)?;
    let supports_pdl = vecinfer_engine::kernels::supports_dependent_launches(engine.gpu.arch);
    let by_steps = args.tune_fp16 == "steps";
    let mut step_tiling = Vec::new();
    let mut rows: Vec<DecodeBenchRow> = Vec::new();
    let mut failures = Vec::new();
    let mut points: Vec<(usize, usize, usize, bool)> = Vec::new(); // spec, batch, context, largest
    for (i, spec) in specs.iter().enumerate() {
        for &context in &contexts {
            for &batch in &batches {
                points.push((i, batch, context, false));
            }
        }
        for &context in &largest_at {
            let (free, _) = free_memory(&engine)?;
            let b = largest_batch(&engine, spec, capacity_for(context, steps), free, reserve);
            if b > 0 {
                points.push((i, b, context, true));
            }
        }
    }
    for (i, batch, context, largest) in points {
        let spec = &specs[i];
        let (free, _) = free_memory(&engine)?;
        let capacity = capacity_for(spread.longest(batch, context), steps);
        let need =
            batch * (spec.bytes_per_sequence(&engine, capacity) + engine.step_bytes_per_sequence());
        if need + reserve / 2 > free {
            eprintln!(
                "skip {} {batch}x{context}: needs {:.1} GB, {:.1} GB free",
                spec.label(),
                need as f64 / 1e9,
                free as f64 / 1e9
            );
            continue;
        }
        let default = Projections::default_for(&c, batch);
        let runs = projection_runs(&args.projections, default)?
            .into_iter()
            .flat_map(|p| {
                let skinny = p.unwrap_or(default) == Projections::Skinny;
                let pdl: Vec<bool> = if skinny && supports_pdl {
                    pdl_runs.clone()
                } else {
                    vec![supports_pdl]
                };
                pdl.into_iter().map(move |d| (p, d))
            })
            .flat_map(|(p, d)| writes_runs.iter().map(move |&w| (p, d, w)))
            .collect::<Vec<_>>();
        for (projections, dependent, writes) in runs {
            engine.kernels.set_dependent_launches(dependent);
            let point = BenchPoint {
                batch,
                context,
                spread,
                steps,
                bandwidth,
            };
            let result = if by_steps && matches!(spec, CacheSpec::Fp16) {
                let about = serde_json::json!({
                    "batch": batch,
                    "context": context,
                    "largest_batch": largest,
                    "projections": projections.map(|p| format!("{p:?}")),
                    "token_writes": writes.map(|w| format!("{w:?}")),
                    "dependent_launches": dependent,
                });
                fastest_fp16_step(
                    &mut engine,
                    spec,
                    point,
                    (projections, writes),
                    about,
                    &mut step_tiling,
                )
            } else {
                run_point(&engine, spec, point, projections, writes).map_err(CliError::from)
            };
            match result {
                Ok(mut row) => {
                    row.largest_batch = largest;
                    if projections.is_some_and(|p| p != default) {
                        row.cache = format!("{} [{:?}]", row.cache, row.projections);
                    }
                    match writes {
                        Some(asked) if asked != row.token_writes => {
                            row.cache = format!(
                                "{} [{asked:?} writes asked, {:?} taken]",
                                row.cache, row.token_writes
                            );
                        }
                        Some(_) => {
                            row.cache = format!("{} [{:?} writes]", row.cache, row.token_writes);
                        }
                        None => {}
                    }
                    if !dependent && supports_pdl && row.projections == Projections::Skinny {
                        row.cache = format!("{} [no PDL]", row.cache);
                    }
                    eprintln!("{}", row_line(&row));
                    rows.push(row);
                }
                Err(e) => {
                    eprintln!("FAILED {} {batch}x{context}: {e}", spec.label());
                    failures.push(format!("{} {batch}x{context}: {e}", spec.label()));
                }
            }
        }
    }
    print!("{}", table(&rows, baseline.as_ref()));
    print!("{}", targets(&rows, baseline.as_ref(), c.context));
    if let Some(path) = &args.json {
        let report = serde_json::json!({
            "device": engine.gpu.name,
            "arch": engine.gpu.arch,
            "weights": weights,
            "model_context": c.context,
            "copy_bandwidth_bytes_per_s": bandwidth,
            "forward_kernels": engine.kernels.config,
            "fp16_attention_tuning": tuning,
            // `each`: per FP16 shape, the tiling taken and every timing behind it.
            "fp16_tilings_per_shape": engine.fp16_choices().into_iter().map(|((batch, capacity), c)| serde_json::json!({
                "batch": batch,
                "capacity": capacity,
                "taken": c.config,
                "timed_ms": c.timed.iter().map(|(t, ms)| serde_json::json!({"config": t, "ms": ms})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            // `steps`: per FP16 point and settings, every tiling's whole step or its error (the
            // row is a second run of the fastest).
            "fp16_step_tilings": step_tiling,
            "layout": layout,
            "hf_baseline": baseline.as_ref().map(|b| b.iter().map(|((bb, s), t)| serde_json::json!({"batch": bb, "ctx": s, "tokens_per_s": t})).collect::<Vec<_>>()),
            "rows": rows,
            "failures": failures,
        });
        crate::error::write_output(
            path,
            serde_json::to_string_pretty(&report)
                .expect("serialises")
                .as_bytes(),
        )?;
    }
    if let Some(path) = &args.plot {
        throughput_svg(&rows, baseline.as_ref(), &engine.gpu.name, c.context, path)?;
    }
    Ok(())
}

/// The FP16 point run with each decode tiling (`--tune-fp16 steps`), then again with the one
/// whose step was fastest (`ms_per_step`, as the row reports it): that second run is the row,
/// so the pick's luck in a single timing does not flatter the FP16 cache. Every tiling's step,
/// or its error, goes into `record` with `about` (the point's settings); a tiling that fails
/// is reported and skipped. The engine's own tiling is back in place afterwards, whatever
/// happened.
fn fastest_fp16_step(
    engine: &mut Engine,
    spec: &CacheSpec<'_>,
    point: BenchPoint,
    (projections, writes): (Option<Projections>, Option<TokenWrites>),
    about: serde_json::Value,
    record: &mut Vec<serde_json::Value>,
) -> Result<DecodeBenchRow, CliError> {
    let own = engine.kernels.clone();
    let mut run_with = |tiling: ForwardConfig| -> Result<DecodeBenchRow, CliError> {
        let mut kernels = vecinfer_engine::ForwardKernels::new(&engine.gpu, tiling)?;
        kernels.set_dependent_launches(own.dependent_launches());
        engine.kernels = kernels;
        let run = run_point(engine, spec, point, projections, writes);
        engine.kernels = own.clone();
        Ok(run?)
    };
    let entry = |tiling: ForwardConfig, outcome: serde_json::Value| {
        let mut e = about.clone();
        e["config"] = serde_json::json!(tiling);
        e["outcome"] = outcome;
        e
    };
    let mut best: Option<(ForwardConfig, f64)> = None;
    let mut last_error = None;
    for tiling in vecinfer_engine::bench::fp16_tiling_candidates(own.config) {
        match run_with(tiling) {
            Ok(row) => {
                let ms = row.ms_per_step;
                eprintln!(
                    "fp16 step with {}: {ms:.3} ms at {}x{}",
                    tiling.name(),
                    point.batch,
                    point.context
                );
                record.push(entry(tiling, serde_json::json!({"step_ms": ms})));
                if best.is_none_or(|(_, b)| ms < b) {
                    best = Some((tiling, ms));
                }
            }
            Err(e) => {
                eprintln!(
                    "fp16 step with {} at {}x{} failed, left out: {e}",
                    tiling.name(),
                    point.batch,
                    point.context
                );
                record.push(entry(tiling, serde_json::json!({"error": e.to_string()})));
                last_error = Some(e);
            }
        }
    }
    let Some((tiling, _)) = best else {
        return Err(last_error.unwrap_or_else(|| CliError::Invalid("no FP16 tiling to run".into())));
    };
    let mut row = run_with(tiling)?;
    row.cache = format!(
        "{} [w{} u{} by steps]",
        row.cache, tiling.decode_warps, tiling.decode_unroll
    );
    Ok(row)
}

/// A row's context: a ragged batch's mean marked `~`.
fn context_label(r: &DecodeBenchRow) -> String {
    if r.ragged {
        format!("~{}", r.context)
    } else {
        r.context.to_string()
    }
}

fn row_line(r: &DecodeBenchRow) -> String {
    format!(
        "{:<22} {:>5} x {:>6}{}: eager {:.3} ms, graph {} -> {:.0} tok/s; limit {:.3} ms (x{:.2}); cache {:.1} GB; {:?} projections",
        r.cache,
        r.batch,
        context_label(r),
        if r.largest_batch { " (largest)" } else { "" },
        r.eager_ms,
        r.graph_ms.map_or_else(
            || format!("failed ({})", r.graph_error.clone().unwrap_or_default()),
            |g| format!("{g:.3} ms")
        ),
        r.tokens_per_s,
        r.byte_limit_ms,
        r.vs_byte_limit,
        r.cache_gb,
        r.projections
    )
}

fn table(rows: &[DecodeBenchRow], baseline: Option<&BTreeMap<(usize, usize), f64>>) -> String {
    let mut out = format!(
        "{:<22} {:>6} {:>7} {:>9} {:>9} {:>10} {:>9} {:>7} {:>6} {:>6} {:>6} {:>6} {:>7} {:>7}\n",
        "cache",
        "batch",
        "ctx",
        "eager ms",
        "graph ms",
        "tok/s",
        "limit ms",
        "x limit",
        "attn",
        "append",
        "matmul",
        "rest",
        "GB",
        "vs HF"
    );
    for r in rows {
        let share = |s: vecinfer_engine::Share| r.shares.get(&s).copied().unwrap_or(0.0) * 100.0;
        let hf = baseline
            .filter(|_| !r.ragged)
            .and_then(|b| b.get(&(r.batch, r.context)))
            .map_or_else(|| "-".into(), |t| format!("{:.1}x", r.tokens_per_s / t));
        out += &format!(
            "{:<22} {:>6} {:>7} {:>9.3} {:>9} {:>10.0} {:>9.3} {:>7.2} {:>5.0}% {:>5.0}% {:>5.0}% {:>5.0}% {:>7.1} {:>7}{}{}\n",
            r.cache,
            r.batch,
            context_label(r),
            r.eager_ms,
            r.graph_ms.map_or_else(|| "-".into(), |g| format!("{g:.3}")),
            r.tokens_per_s,
            r.byte_limit_ms,
            r.vs_byte_limit,
            share(vecinfer_engine::Share::Attention),
            share(vecinfer_engine::Share::Append),
            share(vecinfer_engine::Share::Matmul),
            share(vecinfer_engine::Share::Rest),
            r.session_gb,
            hf,
            if r.largest_batch {
                "  largest batch"
            } else {
                ""
            },
            if r.speed_only {
                "  (past the model's context: speed only)"
            } else {
                ""
            },
        );
    }
    out
}

/// The targets, read off the rows.
fn targets(
    rows: &[DecodeBenchRow],
    baseline: Option<&BTreeMap<(usize, usize), f64>>,
    model_context: usize,
) -> String {
    let mut out = String::from("\ntargets:\n");
    let find = |cache: &str, batch: Option<usize>, ctx: usize, largest: bool| {
        rows.iter().find(|r| {
            r.cache.starts_with(cache)
                && r.context == ctx
                && batch.is_none_or(|b| r.batch == b)
                && (!largest || r.largest_batch)
        })
    };
    let fp16_max = find("fp16", None, model_context, true);
    for r in rows
        .iter()
        .filter(|r| r.largest_batch && r.context == model_context && !r.cache.starts_with("fp16"))
    {
        if let Some(f) = fp16_max {
            out += &format!(
                "  ctx {model_context}, largest batch: {} (batch {}) {:.0} tok/s vs fp16 (batch {}) {:.0} tok/s = {:.2}x (target >= 3x for 2 bits)\n",
                r.cache,
                r.batch,
                r.tokens_per_s,
                f.batch,
                f.tokens_per_s,
                r.tokens_per_s / f.tokens_per_s
            );
        }
    }
    if let Some(b) = baseline.and_then(|b| b.get(&(64, 8192))) {
        for r in rows
            .iter()
            .filter(|r| r.batch == 64 && r.context == 8192 && !r.largest_batch && !r.ragged)
        {
            out += &format!(
                "  64 x 8192: {} {:.0} tok/s vs HF transformers {:.0} tok/s = {:.1}x (target >= 15x)\n",
                r.cache,
                r.tokens_per_s,
                b,
                r.tokens_per_s / b
            );
        }
    }
    if let Some(f) = find("fp16", Some(1), 131072, false) {
        for r in rows
            .iter()
            .filter(|r| r.batch == 1 && r.context == 131072 && !r.cache.starts_with("fp16"))
        {
            out += &format!(
                "  1 x 131072 (speed only): fp16 {:.3} ms vs {} {:.3} ms = {:.2}x lower (target >= 2x)\n",
                f.ms_per_step,
                r.cache,
                r.ms_per_step,
                f.ms_per_step / r.ms_per_step
            );
        }
    }
    for r in rows.iter().filter(|r| r.cache.starts_with("fp16")) {
        if let Some(g) = r.graph_ms {
            out += &format!(
                "  {} {} x {}: graph step {:.3} ms = {:.2}x its byte limit {:.3} ms (target <= 1.3x)\n",
                r.cache,
                r.batch,
                r.context,
                g,
                g / r.byte_limit_ms,
                r.byte_limit_ms
            );
        }
    }
    out
}

/// Tokens/s against context, one line per (cache, batch), the largest batches as their own
/// line, HF transformers' points dashed; contexts past the model's are marked.
pub fn throughput_svg(
    rows: &[DecodeBenchRow],
    baseline: Option<&BTreeMap<(usize, usize), f64>>,
    device: &str,
    model_context: usize,
    path: &Path,
) -> Result<()> {
    let draw_err = |e: String| CliError::Invalid(format!("drawing {}: {e}", path.display()));
    let mut lines: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in rows {
        let key = if r.largest_batch {
            format!("{} largest batch", r.cache)
        } else if r.ragged {
            format!("{} batch {} ragged", r.cache, r.batch)
        } else {
            format!("{} batch {}", r.cache, r.batch)
        };
        lines
            .entry(key)
            .or_default()
            .push((r.context as f64, r.tokens_per_s));
    }
    if let Some(b) = baseline {
        for (&(batch, ctx), &t) in b {
            lines
                .entry(format!("HF transformers batch {batch}"))
                .or_default()
                .push((ctx as f64, t));
        }
    }
    for line in lines.values_mut() {
        line.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    if lines.is_empty() {
        return Err(CliError::Invalid("no rows to plot".into()));
    }
    let (mut x_min, mut x_max, mut y_min, mut y_max) = (f64::MAX, 1f64, f64::MAX, 1f64);
    // The axes are logarithmic and padded (x 1.5, y 2): a value that is not positive, or whose
    // padded range overflows, would give plotters an endless scale.
    let plottable = |v: f64, pad: f64| v > 0.0 && (v * pad).is_finite();
    for (name, &(x, y)) in lines
        .iter()
        .flat_map(|(n, l)| l.iter().map(move |p| (n, p)))
    {
        if !plottable(x, 1.5) || !plottable(y, 2.0) {
            return Err(CliError::Invalid(format!(
                "{name}: context {x:.3e} and tokens/s {y:.3e} cannot be plotted; both must be positive \
                 and below {:.0e}",
                f64::MAX / 2.0
            )));
        }
        x_min = x_min.min(x);
        x_max = x_max.max(x);
        y_min = y_min.min(y);
        y_max = y_max.max(y);
    }
    let root = SVGBackend::new(path, (1000, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| draw_err(e.to_string()))?;
    let title = format!(
        "decode throughput, whole model, {device} (contexts past {model_context}: speed only)"
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(
            ((x_min / 1.5)..(x_max * 1.5)).log_scale(),
            ((y_min / 2.0)..(y_max * 2.0)).log_scale(),
        )
        .map_err(|e| draw_err(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc("context (tokens per sequence)")
        .y_desc("tokens/s")
        .x_label_formatter(&|x| {
            let k = format!("{}k", (*x / 1024.0).round());
            if *x > model_context as f64 {
                format!("{k}*")
            } else {
                k
            }
        })
        .draw()
        .map_err(|e| draw_err(e.to_string()))?;
    for (i, (name, line)) in lines.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let hf = name.starts_with("HF");
        let style = ShapeStyle {
            color,
            filled: true,
            stroke_width: if hf { 1 } else { 2 },
        };
        chart
            .draw_series(LineSeries::new(line.iter().copied(), style))
            .map_err(|e| draw_err(e.to_string()))?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        chart
            .draw_series(PointSeries::of_element(
                line.iter().copied(),
                3,
                style,
                &|c, s, st| Circle::new(c, s, st),
            ))
            .map_err(|e| draw_err(e.to_string()))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| draw_err(e.to_string()))?;
    root.present().map_err(|e| draw_err(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_runs_put_the_default_first_and_name_bad_values() {
        use Projections::{Cublas, Skinny};
        assert_eq!(projection_runs("auto", Skinny).unwrap(), vec![None]);
        assert_eq!(
            projection_runs("cublas", Skinny).unwrap(),
            vec![Some(Cublas)]
        );
        assert_eq!(
            projection_runs("both", Skinny).unwrap(),
            vec![None, Some(Cublas)]
        );
        // A batch the skinny kernels do not take runs cuBLAS once.
        assert_eq!(projection_runs("both", Cublas).unwrap(), vec![None]);
        assert_eq!(token_write_runs("own").unwrap(), vec![None]);
        assert_eq!(
            token_write_runs("both").unwrap(),
            vec![Some(TokenWrites::Projection), Some(TokenWrites::Append)]
        );
        let err = token_write_runs("fused").unwrap_err().to_string();
        assert!(err.contains("own, projection, append and both"), "{err}");
        let err = projection_runs("fast", Skinny).unwrap_err().to_string();
        assert!(err.contains("auto, cublas, skinny and both"), "{err}");
    }
}
