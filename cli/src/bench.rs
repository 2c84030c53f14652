//! `vecinfer bench`: time the fused kernel on the bench grid with CUDA events, next to the
//! FP16 baselines measured by `../shared/bench/fp16_decode_baseline.py` in the same run.
//!
//! Every timed config is first verified against the CPU reference on a small random cache.

use crate::error::{CliError, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use vecinfer_codegen::{CodeLayout, KernelConfig, KeyScoring};
use vecinfer_quant::DecodeShape;
use vecinfer_quant::method::DEFAULT_RESIDUAL;
use vecinfer_quant::{CacheLayout, VqCodec};
use vecinfer_runtime::timing::Timer;
use vecinfer_runtime::{Gpu, OneLayerCache, TokenBytes, VqAppend, VqAttention, Workspace};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchRow {
    pub batch: usize,
    /// The length of every sequence, or with `ragged` their mean.
    pub seq: usize,
    /// The sequences' lengths differ (`vecinfer bench --ragged`): they are in `lengths`.
    #[serde(default)]
    pub ragged: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lengths: Option<Vec<usize>>,
    pub key_codec: String,
    pub value_codec: String,
    pub bits_per_element: f64,
    pub config: String,
    /// The axes a sweep varies, short: scoring, replicas, tile, warps, stages, dims per lane.
    pub variant: String,
    /// The launch's work list: pieces of all sequences, a block each per KV head (files before
    /// session 32 recorded splits per sequence instead, read as 0 here).
    #[serde(default)]
    pub pieces: u32,
    pub registers: i32,
    pub spilled_bytes: i32,
    pub ms: f64,
    pub ms_min: f64,
    pub ms_max: f64,
    pub bytes: usize,
    pub gb_per_s: f64,
    /// Achieved bandwidth over the device's measured copy bandwidth.
    pub roofline_fraction: f64,
    pub sdpa_ms: Option<f64>,
    pub speedup_vs_sdpa: Option<f64>,
    /// FlashInfer with an FP16 paged KV cache in the same run, and this kernel's speed-up on it.
    #[serde(default)]
    pub flashinfer_ms: Option<f64>,
    #[serde(default)]
    pub speedup_vs_flashinfer: Option<f64>,
    /// FlashInfer with an FP8 paged KV cache in the same run, and this kernel's speed-up on it.
    #[serde(default)]
    pub flashinfer_fp8_ms: Option<f64>,
    #[serde(default)]
    pub speedup_vs_fp8: Option<f64>,
    /// Quantize-and-append of one token per sequence (encodes the flushed window token).
    pub append_ms: f64,
    /// `append_ms / ms`.
    pub append_share: f64,
    /// Warps that encoded each appended row (see `VqAppend::set_warps_per_row`).
    #[serde(default)]
    pub append_warps_per_row: Option<u32>,
    /// Bytes one cached token takes in the layer at this context and batch (all KV heads, K
    /// and V): codes (page rounding included), its share of the fp16 sinks and window, and of
    /// the codebooks and smooth scales.
    #[serde(default)]
    pub bytes_per_token: Option<TokenBytes>,
    /// Bits per cached element with all of the above counted.
    #[serde(default)]
    pub bits_per_element_all: Option<f64>,
    /// Paged caches: host time to begin a decode step of one token per sequence (pages
    /// reserved, tables uploaded), once per step for all layers.
    #[serde(default)]
    pub step_host_ms: Option<f64>,
}

/// A row of the shared baseline script's JSON.
#[derive(Clone, Debug, Deserialize)]
pub struct BaselineRow {
    pub batch: usize,
    /// The length of every sequence, or with `ragged` their mean.
    pub seq: usize,
    /// Timed on the lengths of `vecinfer bench --ragged` (`bench/ragged_baseline.py`).
    #[serde(default)]
    pub ragged: bool,
    /// A ragged row's lengths, in batch order: they must be the bench row's.
    #[serde(default)]
    pub lengths: Option<Vec<usize>>,
    /// Query heads, KV heads and head dim of the row; rows of older scripts lack them and are
    /// refused (a ratio against another shape would be silently wrong).
    pub heads: Option<usize>,
    pub kv_heads: Option<usize>,
    pub head_dim: Option<usize>,
    /// PyTorch SDPA FP16; absent from ragged rows (SDPA takes equal lengths only).
    #[serde(default)]
    pub sdpa_ms: Option<f64>,
    pub copy_tbs: Option<f64>,
    /// FlashInfer with an FP16 paged cache, when the script found FlashInfer.
    #[serde(default)]
    pub flashinfer_ms: Option<f64>,
    /// FlashInfer with an FP8 (e4m3) paged cache: what serving engines ship as their compressed
    /// KV cache today.
    #[serde(default)]
    pub flashinfer_fp8_ms: Option<f64>,
}

/// The attention shape a baseline row must have to stand beside a measured row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BaselineShape {
    pub batch: usize,
    pub seq: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    /// Lengths spread as `vecinfer bench --ragged` spreads them.
    pub ragged: bool,
}

impl std::fmt::Display for BaselineShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}x{}{} with {} query heads, {} KV heads, head dim {}",
            self.batch,
            self.seq,
            if self.ragged { " (ragged)" } else { "" },
            self.heads,
            self.kv_heads,
            self.head_dim
        )
    }
}

/// The baseline row of exactly `want`'s shape. `Ok(None)` when no row has its batch, sequence
/// length and kind of lengths (equal or ragged); an error when such a row exists but for other
/// heads or head dim (or does not say which), since a ratio against it would compare different
/// work.
pub fn baseline_for(rows: &[BaselineRow], want: BaselineShape) -> Result<Option<&BaselineRow>> {
    let mut same_size = rows
        .iter()
        .filter(|b| b.batch == want.batch && b.seq == want.seq && b.ragged == want.ragged)
        .peekable();
    if same_size.peek().is_none() {
        return Ok(None);
    }
    let mut seen = Vec::new();
    for b in same_size {
        match (b.heads, b.kv_heads, b.head_dim) {
            (Some(h), Some(kv), Some(d))
                if (h, kv, d) == (want.heads, want.kv_heads, want.head_dim) =>
            {
                return Ok(Some(b));
            }
            (Some(h), Some(kv), Some(d)) => seen.push(format!("{h}/{kv} heads, head dim {d}")),
            _ => seen.push("a row without heads/kv_heads/head_dim".into()),
        }
    }
    let script = if want.ragged {
        "bench/ragged_baseline.py"
    } else {
        "../shared/bench/fp16_decode_baseline.py"
    };
    Err(CliError::Invalid(format!(
        "the baseline has {}x{} only for {}, not for {want}: run {script} with --heads {} \
         --kv-heads {} --head-dim {}",
        want.batch,
        want.seq,
        seen.join("; "),
        want.heads,
        want.kv_heads,
        want.head_dim
    )))
}

/// A ragged baseline row stands beside a bench row only if it was timed on the same lengths
/// (an older script, or another spread, would give a ratio against other work).
fn check_same_lengths(base: &BaselineRow, row: &BenchRow) -> Result<()> {
    match (&base.lengths, &row.lengths) {
        (Some(b), Some(r)) if b != r => Err(CliError::Invalid(format!(
            "the ragged baseline for {}x{} was timed on other lengths ({b:?}) than this bench \
             ({r:?}): run bench/ragged_baseline.py from this checkout",
            row.batch, row.seq
        ))),
        _ => Ok(()),
    }
}

fn rt(e: cudarc::driver::DriverError) -> CliError {
    CliError::from(vecinfer_runtime::RuntimeError::from(e))
}

/// Device-to-device copy bandwidth (read + write), TB/s.
pub fn copy_bandwidth(gpu: &Gpu) -> Result<f64> {
    let n = 1usize << 30;
    let src = gpu.stream.alloc_zeros::<u8>(n).map_err(rt)?;
    let mut dst = gpu.stream.alloc_zeros::<u8>(n).map_err(rt)?;
    let t = Timer::new(gpu).time(2, 10, |_| {
        gpu.stream.memcpy_dtod(&src, &mut dst).map_err(rt)
    })?;
    Ok(2.0 * n as f64 / (t.median_ms * 1e-3) / 1e12)
}

/// How `bench_one` measures: the fp16 window, the copy rate that sets the roofline, timed
/// runs, and the append's warps per row (`None`: the launch's own choice).
#[derive(Clone, Copy, Debug)]
pub struct BenchSettings {
    pub residual: usize,
    pub copy_tbs: f64,
    pub runs: usize,
    pub append_warps: Option<u32>,
}

/// Times one config on `shape` (one sequence of each length in `lengths`, `shape.batch` of
/// them).
pub fn bench_one(
    gpu: &Gpu,
    config: &KernelConfig,
    shape: DecodeShape,
    lengths: &[usize],
    settings: BenchSettings,
) -> Result<BenchRow> {
    let BenchSettings {
        residual,
        copy_tbs,
        runs,
        append_warps,
    } = settings;
    let kernel = VqAttention::new(gpu, config)?;
    let seq = lengths.iter().sum::<usize>() / lengths.len().max(1);
    let longest = lengths.iter().copied().max().unwrap_or(0);
    let ragged = lengths.iter().any(|&n| n != longest);
    let caches = OneLayerCache::rotating(gpu, shape, config, lengths, residual)?;
    let (copies, bytes) = (caches.len(), caches[0].bytes_per_step(config));
    let elements = shape.batch * shape.q_heads * shape.head_dim;
    let query = gpu
        .stream
        .clone_htod(&vec![0x3c00u16; elements])
        .map_err(rt)?; // 1.0 in fp16
    let mut out = gpu.stream.alloc_zeros::<u16>(elements).map_err(rt)?;
    let mut workspace = Workspace::default();
    let plan = kernel.plan(gpu, &caches[0].view()?);
    let spec = *caches[0].view()?.storage().spec();
    let token_bytes = TokenBytes::of(&spec, seq, shape.batch);
    let t = Timer::new(gpu).time(5, runs, |i| {
        kernel.attend(
            gpu,
            caches[i % copies].view()?,
            &query,
            &mut out,
            &mut workspace,
        )
    })?;
    // One decode step's new token per sequence; every append flushes a window token into
    // codes. Its GPU time is what it adds to a layer's step: APPEND_REPS launches are queued
    // behind a 256 MB copy, so they run back to back however slowly the host enqueues them.
    // A paged cache appends within one step (the same positions each time: the same GPU
    // work); what beginning a step costs the host, once per step for all layers, is timed
    // apart (`step_host_ms`).
    const APPEND_REPS: usize = 20;
    let append_runs = runs.min(30);
    let room = (5 + append_runs) * APPEND_REPS + append_runs + 1;
    let mut growing =
        OneLayerCache::random_with_room(gpu, shape, config, (lengths, residual, room), 99)?;
    let mut appender = VqAppend::new(gpu, config)?;
    if let Some(w) = append_warps
        && !appender.warps_per_row_choices().contains(&w)
    {
        // Books over 256 entries are searched by whole blocks: time what the kernel offers.
        eprintln!(
            "{config}: the append offers {:?} warps a row, not {w}; timing its own choice",
            appender.warps_per_row_choices()
        );
    } else {
        appender.set_warps_per_row(append_warps)?;
    }
    let append_warps_per_row = appender.warps_per_row_for(1, shape.kv_heads, shape.batch);
    let (paged_step, step_host_ms) = match &mut growing {
        OneLayerCache::Contiguous(_) => (None, None),
        OneLayerCache::Paged(p) => {
            let ids: Vec<_> = p.table().sequences().collect();
            let mut samples = Vec::new();
            for _ in 0..append_runs {
                let start = std::time::Instant::now();
                p.begin_step(gpu, &ids, 1)?;
                samples.push(start.elapsed().as_secs_f64() * 1e3);
            }
            gpu.stream.synchronize().map_err(rt)?;
            (
                Some(p.begin_step(gpu, &ids, 1)?),
                Some(vecinfer_runtime::Timing::of(samples).median_ms),
            )
        }
    };
    let token = gpu
        .stream
        .clone_htod(&vec![
            0x3c00u16;
            shape.batch * shape.kv_heads * shape.head_dim
        ])
        .map_err(rt)?;
    let blocker_src = gpu.stream.alloc_zeros::<u8>(256 << 20).map_err(rt)?;
    let mut blocker_dst = gpu.stream.alloc_zeros::<u8>(256 << 20).map_err(rt)?;
    let append_total = Timer::new(gpu).time_behind(
        5,
        append_runs,
        || {
            gpu.stream
                .memcpy_dtod(&blocker_src, &mut blocker_dst)
                .map_err(rt)
        },
        |_| {
            for _ in 0..APPEND_REPS {
                match &mut growing {
                    OneLayerCache::Contiguous(c) => c.append(gpu, &appender, &token, &token, 1)?,
                    OneLayerCache::Paged(p) => {
                        let step = paged_step.as_ref().expect("made above for paged caches");
                        p.append(gpu, &appender, step, 0, &token, &token)?;
                    }
                }
            }
            Ok(())
        },
    )?;
    let append_ms = append_total.median_ms / APPEND_REPS as f64;
    let (ms, ms_min, ms_max) = (t.median_ms, t.min_ms, t.max_ms);
    let (registers, spilled_bytes) = kernel.resources()?;
    let gb_per_s = bytes as f64 / (ms * 1e-3) / 1e9;
    Ok(BenchRow {
        batch: shape.batch,
        seq,
        ragged,
        lengths: ragged.then(|| lengths.to_vec()),
        key_codec: config.key_codec.to_string(),
        value_codec: config.value_codec.to_string(),
        bits_per_element: (config.key_codec.bits_per_element()
            + config.value_codec.bits_per_element())
            / 2.0,
        config: config.name(),
        variant: variant_name(config),
        pieces: plan.pieces() as u32,
        registers,
        spilled_bytes,
        ms,
        ms_min,
        ms_max,
        bytes,
        gb_per_s,
        roofline_fraction: gb_per_s / (copy_tbs * 1e3),
        sdpa_ms: None,
        speedup_vs_sdpa: None,
        flashinfer_ms: None,
        speedup_vs_flashinfer: None,
        flashinfer_fp8_ms: None,
        speedup_vs_fp8: None,
        append_ms,
        append_share: append_ms / ms,
        append_warps_per_row: Some(append_warps_per_row),
        bytes_per_token: Some(token_bytes),
        bits_per_element_all: Some(token_bytes.bits_per_element(&spec)),
        step_host_ms,
    })
}

/// The searched axes of a config, short: scoring, copies, tile, warps, stages, dims per lane,
/// split; then the layout, launch bound and key-book format where they are not the default.
pub fn variant_name(config: &KernelConfig) -> String {
    format!(
        "{}{}{}{} r{} t{} w{} p{} l{} s{}{}{}{}",
        config.key_scoring.name(),
        if config.split_query { "+qsplit" } else { "" },
        if config.key_token_rows { "+ktr" } else { "" },
        if config.direct_codes { "+direct" } else { "" },
        config.codebook_replicas,
        config.tile_tokens,
        config.warps,
        config.stages,
        config.dims_per_lane,
        match config.split {
            vecinfer_codegen::SplitPolicy::Auto => "auto".to_string(),
            vecinfer_codegen::SplitPolicy::Fixed(n) => n.to_string(),
        },
        match config.layout {
            CodeLayout::Contiguous => String::new(),
            CodeLayout::Paged { page_tokens } => format!(" pg{page_tokens}"),
        },
        match config.min_blocks_per_sm {
            0 => String::new(),
            b => format!(" mb{b}"),
        },
        match config.key_book {
            vecinfer_codegen::BookFormat::F16 => "",
            vecinfer_codegen::BookFormat::E4m3 => " ke4m3",
        }
    )
}

pub fn format_rows(rows: &[BenchRow], copy_tbs: f64) -> String {
    let mut s = format!("copy bandwidth {copy_tbs:.2} TB/s (read+write)\n");
    s += &format!(
        "{:>5} {:>7} {:>12} {:>5} {:>8} {:>6} {:>8} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}  {}\n",
        "batch",
        "seq",
        "K/V",
        "bits",
        "all bits",
        "pieces",
        "ms",
        "GB/s",
        "roofline",
        "sdpa ms",
        "× sdpa",
        "fi16 ms",
        "× fi16",
        "fp8 ms",
        "× fp8",
        "append",
        "kernel"
    );
    for r in rows {
        s += &format!(
            "{:>5} {:>7} {:>12} {:>5.2} {:>8} {:>6} {:>8.4} {:>8.0} {:>8.1}% {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8.1}%  {}\n",
            r.batch,
            // A ragged row's mean length.
            if r.ragged {
                format!("~{}", r.seq)
            } else {
                r.seq.to_string()
            },
            format!("{}/{}", r.key_codec, r.value_codec),
            r.bits_per_element,
            r.bits_per_element_all
                .map_or("-".into(), |b| format!("{b:.2}")),
            r.pieces,
            r.ms,
            r.gb_per_s,
            100.0 * r.roofline_fraction,
            r.sdpa_ms.map_or("-".into(), |v| format!("{v:.3}")),
            r.speedup_vs_sdpa.map_or("-".into(), |v| format!("{v:.2}x")),
            r.flashinfer_ms.map_or("-".into(), |v| format!("{v:.3}")),
            r.speedup_vs_flashinfer
                .map_or("-".into(), |v| format!("{v:.2}x")),
            r.flashinfer_fp8_ms
                .map_or("-".into(), |v| format!("{v:.3}")),
            r.speedup_vs_fp8.map_or("-".into(), |v| format!("{v:.2}x")),
            100.0 * r.append_share,
            match r.step_host_ms {
                Some(ms) => format!("{} (step {:.0} us host)", r.variant, ms * 1e3),
                None => r.variant.clone(),
            },
        );
    }
    s
}

/// The bench grid on the Llama-3.1-8B attention shape: `vecinfer bench` and `vecinfer tune`.
#[derive(clap::Args)]
pub struct GridArgs {
    /// Comma-separated BATCHxSEQ.
    #[arg(
        long,
        default_value = "1x32768,1x131072,8x32768,32x8192,64x8192,128x4096"
    )]
    pub shapes: String,
    /// Comma-separated K/V codec pairs.
    #[arg(long, default_value = "d2b8/d2b8,d4b8/d4b8,d8b12/d8b12,d8b12/d8b8")]
    pub codecs: String,
    #[arg(long, default_value_t = 32)]
    pub heads: usize,
    #[arg(long, default_value_t = 8)]
    pub kv_heads: usize,
    #[arg(long, default_value_t = 128)]
    pub head_dim: usize,
    /// Code layouts, comma-separated: contiguous, paged16 .. paged512 (tokens per page); for
    /// `tune` also `paged`, a paged key whose page size the tuner chooses.
    #[arg(long, default_value = "contiguous")]
    pub layouts: String,
}

/// Arguments of `vecinfer bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub grid: GridArgs,
    /// Key scoring, comma-separated (lut, deq, mma); default: the config default. Each list
    /// option below is crossed with the others; combinations that do not validate are
    /// skipped with a notice.
    #[arg(long)]
    pub scoring: Option<String>,
    /// Codebook copies in shared memory (mma only; books of up to 16 KB take them, larger ones
    /// keep one), comma-separated.
    #[arg(long)]
    pub replicas: Option<String>,
    /// Pipeline depths, comma-separated.
    #[arg(long)]
    pub stages: Option<String>,
    /// Warps per block, comma-separated.
    #[arg(long)]
    pub warps: Option<String>,
    /// Tokens per tile, comma-separated.
    #[arg(long)]
    pub tile: Option<String>,
    /// Query as fp16 hi + lo parts in the mma kernel, comma-separated (false, true).
    #[arg(long)]
    pub split_query: Option<String>,
    /// The mma kernel's key mma with a slab's tokens as its rows (true) or the query heads
    /// (false), comma-separated (default: true at head dim 128 and up). Unlike the geometry
    /// axes it keeps the default's launch bound: both forms fit it.
    #[arg(long)]
    pub key_token_rows: Option<String>,
    /// Direct code loads in the mma kernel (8-bit codes, stages 1), comma-separated.
    #[arg(long)]
    pub direct_codes: Option<String>,
    /// Split-KV policies, comma-separated: auto or a number of splits.
    #[arg(long)]
    pub split: Option<String>,
    /// Head dims per lane (CUDA-core kernels), comma-separated.
    #[arg(long)]
    pub dims_per_lane: Option<String>,
    /// Blocks per SM the compiler must fit (launch bounds; 0 = no bound), comma-separated.
    #[arg(long)]
    pub min_blocks: Option<String>,
    /// The key codebook in shared memory, comma-separated (f16, e4m3). e4m3 (mma kernel,
    /// d8b11 and d8b12 keys, sm_89 and newer) reads books of e4m3 values: its case rounds the
    /// random key books, so verification stays exact.
    #[arg(long)]
    pub key_book: Option<String>,
    /// Newest tokens of each sequence in fp16.
    #[arg(long, default_value_t = DEFAULT_RESIDUAL)]
    pub residual: usize,
    /// Warps that encode each row in the append column: auto (the most whose blocks fit one
    /// wave) or one the kernel offers (8; and 4, 2, 1 for books of up to 256 entries).
    #[arg(long, default_value = "auto", value_parser = parse_append_warps)]
    pub append_warps: AppendWarps,
    #[arg(long, default_value_t = 30)]
    pub runs: usize,
    /// Spread each batch's lengths around SEQ (`vecinfer_runtime::spread_lengths`): a ragged
    /// batch of the same total length. Such rows stand only beside baseline rows timed with the same lengths
    /// (`bench/ragged_baseline.py`).
    #[arg(long)]
    pub ragged: bool,
    /// JSON written by ../shared/bench/fp16_decode_baseline.py --json (or, with --ragged,
    /// bench/ragged_baseline.py --json) in the same run.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Draw latency against sequence length here (SVG).
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

/// `--append-warps`: `auto` or a count.
#[derive(Clone, Copy, Debug)]
pub struct AppendWarps(pub Option<u32>);

fn parse_append_warps(s: &str) -> std::result::Result<AppendWarps, String> {
    match s {
        "auto" => Ok(AppendWarps(None)),
        n => match n.parse::<u32>() {
            Ok(w @ (1 | 2 | 4 | 8)) => Ok(AppendWarps(Some(w))),
            _ => Err(format!("{n:?}: expected auto, 1, 2, 4 or 8")),
        },
    }
}

/// `BATCHxSEQ,...` into pairs.
pub fn parse_shapes(list: &str) -> Result<Vec<(usize, usize)>> {
    list.split(',')
        .map(|s| {
            let (b, t) = s
                .trim()
                .to_lowercase()
                .split_once('x')
                .map(|(b, t)| (b.parse(), t.parse()))
                .ok_or_else(|| {
                    CliError::Invalid(format!("shape {s:?}: expected BATCHxSEQ, e.g. 8x32768"))
                })?;
            match (b, t) {
                (Ok(b), Ok(t)) if b > 0 && t > 0 => Ok((b, t)),
                _ => Err(CliError::Invalid(format!(
                    "shape {s:?}: expected BATCHxSEQ with positive numbers, e.g. 8x32768"
                ))),
            }
        })
        .collect()
}

/// `K/V,...` codec pairs, e.g. `d4b8/d4b8,d8b12/d8b8`.
pub fn parse_codec_pairs(list: &str) -> Result<Vec<(VqCodec, VqCodec)>> {
    list.split(',')
        .map(|p| {
            let (k, v) = p.split_once('/').ok_or_else(|| {
                CliError::Invalid(format!("codec pair {p:?}: expected K/V, e.g. d4b8/d4b8"))
            })?;
            Ok((k.trim().parse()?, v.trim().parse()?))
        })
        .collect()
}

/// Query heads per KV head.
pub fn query_group(heads: usize, kv_heads: usize) -> Result<usize> {
    if kv_heads == 0 || heads == 0 || !heads.is_multiple_of(kv_heads) {
        return Err(CliError::Invalid(format!(
            "--heads {heads} must be a positive multiple of --kv-heads {kv_heads}"
        )));
    }
    Ok(heads / kv_heads)
}

/// The rows of the baseline script's JSON, or none without a file.
pub fn read_baseline(path: Option<&std::path::Path>) -> Result<Vec<BaselineRow>> {
    let Some(p) = path else { return Ok(Vec::new()) };
    let text = std::fs::read_to_string(p).map_err(|source| CliError::Io {
        path: p.display().to_string(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| {
        CliError::Invalid(format!(
            "{}: not the baseline script's JSON: {e}",
            p.display()
        ))
    })
}

/// A comma-separated list of `what`, or `None` when the option is absent.
pub fn parse_list<T: std::str::FromStr>(list: Option<&str>, what: &str) -> Result<Option<Vec<T>>>
where
    T::Err: std::fmt::Display,
{
    let Some(list) = list else { return Ok(None) };
    list.split(',')
        .map(|x| {
            x.trim()
                .parse()
                .map_err(|e| CliError::Invalid(format!("--{what} {x:?}: {e}")))
        })
        .collect::<Result<Vec<T>>>()
        .map(Some)
}

/// Every config of `configs` with each of `values` set by `set`; `None` leaves them as they are.
fn cross<T: Copy>(
    configs: Vec<KernelConfig>,
    values: Option<Vec<T>>,
    set: impl Fn(&mut KernelConfig, T),
) -> Vec<KernelConfig> {
    let Some(values) = values else { return configs };
    let mut out = Vec::with_capacity(configs.len() * values.len());
    for c in configs {
        for &x in &values {
            let mut c = c;
            set(&mut c, x);
            out.push(c);
        }
    }
    out
}

/// Every combination of the list options for every codec pair, around the default config;
/// combinations that do not validate on `arch` are skipped with a notice (an error if none
/// is left).
pub fn configs_to_bench(
    a: &BenchArgs,
    pairs: &[(VqCodec, VqCodec)],
    group: usize,
    arch: &str,
) -> Result<Vec<KernelConfig>> {
    let (out, skipped) = config_sweep(a, pairs, group, arch)?;
    for s in &skipped {
        eprintln!("skipped {s}");
    }
    Ok(out)
}

/// The sweep's valid configs on `arch` and the skipped ones with why; an error for a list
/// option that does not parse or a sweep with no valid config.
fn config_sweep(
    a: &BenchArgs,
    pairs: &[(VqCodec, VqCodec)],
    group: usize,
    arch: &str,
) -> Result<(Vec<KernelConfig>, Vec<String>)> {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    // The default's launch bound fits the default's own registers: a sweep of other
    // geometries starts unbounded unless --min-blocks is given.
    let sweeps_geometry = [
        &a.scoring,
        &a.replicas,
        &a.stages,
        &a.warps,
        &a.tile,
        &a.split_query,
        &a.direct_codes,
        &a.dims_per_lane,
    ]
    .iter()
    .any(|o| o.is_some());
    for &(k, v) in pairs {
        let mut d = KernelConfig::default_for(a.grid.head_dim, group, k, v);
        if sweeps_geometry {
            d.min_blocks_per_sm = 0;
        }
        // Each scoring starts from its family's defaults (the CUDA-core kernels have one
        // codebook copy and 128-token tiles).
        let family = |x: KeyScoring| match x {
            KeyScoring::Mma => d,
            other => KernelConfig {
                key_scoring: other,
                ..KernelConfig::cuda_core_for(a.grid.head_dim, group, k, v)
            },
        };
        let mut all = vec![d];
        all = cross(all, parse_list(a.scoring.as_deref(), "scoring")?, |c, x| {
            *c = family(x)
        });
        all = cross(
            all,
            parse_list(a.replicas.as_deref(), "replicas")?,
            |c, x| c.codebook_replicas = x,
        );
        all = cross(all, parse_list(a.stages.as_deref(), "stages")?, |c, x| {
            c.stages = x
        });
        all = cross(all, parse_list(a.warps.as_deref(), "warps")?, |c, x| {
            c.warps = x
        });
        all = cross(all, parse_list(a.tile.as_deref(), "tile")?, |c, x| {
            c.tile_tokens = x
        });
        all = cross(
            all,
            parse_list(a.dims_per_lane.as_deref(), "dims-per-lane")?,
            |c, x| c.dims_per_lane = x,
        );
        all = cross(all, parse_list(a.split.as_deref(), "split")?, |c, x| {
            c.split = x
        });
        all = cross(
            all,
            parse_list(a.split_query.as_deref(), "split-query")?,
            |c, x| c.split_query = x,
        );
        all = cross(
            all,
            parse_list(a.key_token_rows.as_deref(), "key-token-rows")?,
            |c, x| c.key_token_rows = x,
        );
        all = cross(
            all,
            parse_list(a.direct_codes.as_deref(), "direct-codes")?,
            |c, x| c.direct_codes = x,
        );
        all = cross(
            all,
            parse_list(a.min_blocks.as_deref(), "min-blocks")?,
            |c, x| c.min_blocks_per_sm = x,
        );
        all = cross(
            all,
            parse_list(Some(&a.grid.layouts), "layouts")?,
            |c, x| c.layout = x,
        );
        all = cross(
            all,
            parse_list(a.key_book.as_deref(), "key-book")?,
            |c, x| c.key_book = x,
        );
        for c in all {
            match c.validate(arch) {
                Ok(()) => out.push(c),
                Err(e) => skipped.push(format!("{c}: {e}")),
            }
        }
    }
    if out.is_empty() {
        return Err(CliError::Invalid(format!(
            "no valid config to bench: {}",
            skipped.join("; ")
        )));
    }
    Ok((out, skipped))
}

/// Verifies, times and reports; the table goes to stdout.
pub fn run(a: BenchArgs) -> Result<()> {
    use vecinfer_runtime::verify::{RandomCase, worst_relative_error};
    let shapes = parse_shapes(&a.grid.shapes)?;
    let pairs = parse_codec_pairs(&a.grid.codecs)?;
    let group = query_group(a.grid.heads, a.grid.kv_heads)?;
    let baseline = read_baseline(a.baseline.as_deref())?;
    crate::error::at_least_one("--runs", a.runs, "at least 1 timed run")?;
    // The list options, before the GPU opens: sm_90's shared memory is the largest, so a
    // config invalid there is invalid on every GPU (the real arch is checked below).
    config_sweep(&a, &pairs, group, "sm_90")?;
    let gpu = vecinfer_runtime::Gpu::new(0)?;
    let copy_tbs = copy_bandwidth(&gpu)?;
    eprintln!(
        "{} ({}, {} SMs), copy {copy_tbs:.2} TB/s",
        gpu.name, gpu.arch, gpu.sm_count
    );
    let configs = configs_to_bench(&a, &pairs, group, gpu.arch)?;
    let mut rows = Vec::new();
    for config in configs {
        let case = RandomCase {
            kv_heads: a.grid.kv_heads,
            lengths: vec![3, 700, 2500],
            layout: CacheLayout::default(),
            seed: 1,
        };
        let worst = worst_relative_error(&gpu, &config, &case)?;
        if worst.is_nan() || worst > 2e-3 {
            eprintln!(
                "{config}: FAILED verification (worst rel err {worst:.3e} > 2e-3); not timed"
            );
            continue;
        }
        eprintln!("{config}: verified (worst rel err {worst:.2e})");
        for &(batch, seq) in &shapes {
            let shape = vecinfer_quant::DecodeShape {
                batch,
                q_heads: a.grid.heads,
                kv_heads: a.grid.kv_heads,
                head_dim: a.grid.head_dim,
            };
            let lengths = if a.ragged {
                vecinfer_runtime::spread_lengths(batch, seq)
            } else {
                vec![seq; batch]
            };
            let mut row = bench_one(
                &gpu,
                &config,
                shape,
                &lengths,
                BenchSettings {
                    residual: a.residual,
                    copy_tbs,
                    runs: a.runs,
                    append_warps: a.append_warps.0,
                },
            )?;
            let want = BaselineShape {
                batch,
                seq,
                heads: a.grid.heads,
                kv_heads: a.grid.kv_heads,
                head_dim: a.grid.head_dim,
                ragged: row.ragged,
            };
            if let Some(b) = baseline_for(&baseline, want)? {
                check_same_lengths(b, &row)?;
                row.sdpa_ms = b.sdpa_ms;
                row.speedup_vs_sdpa = b.sdpa_ms.map(|t| t / row.ms);
                row.flashinfer_ms = b.flashinfer_ms;
                row.speedup_vs_flashinfer = b.flashinfer_ms.map(|f| f / row.ms);
                row.flashinfer_fp8_ms = b.flashinfer_fp8_ms;
                row.speedup_vs_fp8 = b.flashinfer_fp8_ms.map(|f| f / row.ms);
            }
            eprintln!("  {batch}x{seq}: {:.4} ms", row.ms);
            rows.push(row);
        }
    }
    print!("{}", format_rows(&rows, copy_tbs));
    if let Some(path) = &a.plot {
        let title = format!(
            "VQ decode attention vs SDPA FP16, {} ({})",
            gpu.name, gpu.arch
        );
        crate::plot::latency_svg(&rows, &title, path)?;
    }
    if let Some(path) = a.json {
        let report = serde_json::json!({ "device": gpu.name, "arch": gpu.arch, "copy_tbs": copy_tbs, "rows": rows });
        let body = serde_json::to_string_pretty(&report)
            .map_err(|e| CliError::Invalid(format!("serialising the results: {e}")))?;
        crate::error::write_output(&path, body.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> BenchArgs {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            bench: BenchArgs,
        }
        use clap::Parser;
        Cli::parse_from(std::iter::once("bench").chain(extra.iter().copied())).bench
    }

    #[test]
    fn list_options_are_crossed_and_invalid_combinations_skipped() {
        let pairs = [("d4b8".parse().unwrap(), "d4b8".parse().unwrap())];
        let a = args(&[
            "--replicas",
            "8,16",
            "--stages",
            "1,2",
            "--direct-codes",
            "false,true",
        ]);
        let configs = configs_to_bench(&a, &pairs, 4, "sm_90").unwrap();
        // 2 replicas x (stages 1, 2 staged + stages 1 direct); direct with 2 stages is invalid.
        assert_eq!(configs.len(), 6, "{configs:?}");
        assert_eq!(configs.iter().filter(|c| c.direct_codes).count(), 2);
        let a = args(&["--scoring", "deq,lut,mma"]);
        let configs = configs_to_bench(&a, &pairs, 4, "sm_90").unwrap();
        assert_eq!(configs.len(), 3);
        assert_eq!(configs[0].codebook_replicas, 1);
        let err = configs_to_bench(&args(&["--scoring", "fast"]), &pairs, 4, "sm_90")
            .unwrap_err()
            .to_string();
        assert!(err.contains("valid values are lut, deq"), "{err}");
        let err = configs_to_bench(&args(&["--replicas", "3"]), &pairs, 4, "sm_90")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no valid config"), "{err}");
    }

    #[test]
    fn the_defaults_launch_bound_stays_with_the_default() {
        let pairs = [("d4b8".parse().unwrap(), "d4b8".parse().unwrap())];
        // No option: the default, with its bound of 3 blocks per SM.
        let configs = configs_to_bench(&args(&[]), &pairs, 4, "sm_90").unwrap();
        assert_eq!(configs[0].min_blocks_per_sm, 3);
        // Another geometry starts unbounded (8 warps under the default's bound would get 85
        // registers); --min-blocks sets it explicitly.
        let configs = configs_to_bench(&args(&["--warps", "4,8"]), &pairs, 4, "sm_90").unwrap();
        assert!(
            configs.iter().all(|c| c.min_blocks_per_sm == 0),
            "{configs:?}"
        );
        let a = args(&["--warps", "8", "--min-blocks", "0,2"]);
        let configs = configs_to_bench(&a, &pairs, 4, "sm_90").unwrap();
        let bounds: Vec<usize> = configs.iter().map(|c| c.min_blocks_per_sm).collect();
        assert_eq!(bounds, [0, 2]);
    }

    #[test]
    fn baseline_rows_match_by_shape_and_another_shape_is_an_error() {
        let rows: Vec<BaselineRow> = serde_json::from_value(serde_json::json!([
            {"batch": 8, "seq": 32768, "heads": 32, "kv_heads": 8, "head_dim": 128,
             "sdpa_ms": 0.37, "copy_tbs": 2.9, "flashinfer_fp8_ms": 0.24},
            {"batch": 8, "seq": 32768, "heads": 9, "kv_heads": 3, "head_dim": 64,
             "sdpa_ms": 0.05, "copy_tbs": 2.9},
            {"batch": 64, "seq": 8192, "sdpa_ms": 0.7, "copy_tbs": 2.9},
            {"batch": 8, "seq": 32768, "heads": 32, "kv_heads": 8, "head_dim": 128,
             "ragged": true, "flashinfer_ms": 0.41, "flashinfer_fp8_ms": 0.26}
        ]))
        .unwrap();
        let llama = BaselineShape {
            batch: 8,
            seq: 32768,
            heads: 32,
            kv_heads: 8,
            head_dim: 128,
            ragged: false,
        };
        let b = baseline_for(&rows, llama).unwrap().unwrap();
        assert_eq!((b.sdpa_ms, b.flashinfer_fp8_ms), (Some(0.37), Some(0.24)));
        // Ragged rows stand only beside ragged rows, and equal ones beside equal ones.
        let ragged = BaselineShape {
            ragged: true,
            ..llama
        };
        let r = baseline_for(&rows, ragged).unwrap().unwrap();
        assert_eq!((r.sdpa_ms, r.flashinfer_ms), (None, Some(0.41)));
        let err = baseline_for(
            &rows,
            BaselineShape {
                head_dim: 64,
                ..ragged
            },
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("ragged_baseline.py"), "{err}");
        let smol = BaselineShape {
            heads: 9,
            kv_heads: 3,
            head_dim: 64,
            ..llama
        };
        assert_eq!(
            baseline_for(&rows, smol).unwrap().unwrap().sdpa_ms,
            Some(0.05)
        );
        // No row of this batch and length: no ratio, no error.
        let absent = BaselineShape { batch: 1, ..llama };
        assert!(baseline_for(&rows, absent).unwrap().is_none());
        // Same batch and length, other head dim: an error that says how to make the right row.
        let other = BaselineShape {
            head_dim: 256,
            ..llama
        };
        let err = baseline_for(&rows, other).unwrap_err().to_string();
        assert!(
            err.contains("head dim 256") && err.contains("--head-dim 256"),
            "{err}"
        );
        // An old row that does not say its shape is refused, never taken on trust.
        let old = BaselineShape {
            batch: 64,
            seq: 8192,
            ..llama
        };
        let err = baseline_for(&rows, old).unwrap_err().to_string();
        assert!(err.contains("without heads"), "{err}");
    }

    #[test]
    fn a_ragged_baseline_of_other_lengths_is_an_error() {
        let row = |lengths: Option<Vec<usize>>| -> BenchRow {
            serde_json::from_value(serde_json::json!({
                "batch": 3, "seq": 100, "ragged": lengths.is_some(), "lengths": lengths,
                "key_codec": "d4b8", "value_codec": "d4b8", "bits_per_element": 2.0,
                "config": "c", "variant": "v", "pieces": 1, "registers": 100,
                "spilled_bytes": 0, "ms": 0.1, "ms_min": 0.1, "ms_max": 0.1, "bytes": 1,
                "gb_per_s": 1.0, "roofline_fraction": 0.1, "sdpa_ms": null,
                "speedup_vs_sdpa": null, "append_ms": 0.001, "append_share": 0.01
            }))
            .unwrap()
        };
        let base = |lengths: serde_json::Value| -> BaselineRow {
            serde_json::from_value(serde_json::json!({
                "batch": 3, "seq": 100, "ragged": true, "lengths": lengths,
                "heads": 32, "kv_heads": 8, "head_dim": 128, "flashinfer_ms": 0.2
            }))
            .unwrap()
        };
        let spread = vecinfer_runtime::spread_lengths(3, 100);
        let same = base(serde_json::json!(spread));
        assert!(check_same_lengths(&same, &row(Some(spread.clone()))).is_ok());
        let other = base(serde_json::json!([100, 33, 167]));
        let err = check_same_lengths(&other, &row(Some(spread)))
            .unwrap_err()
            .to_string();
        assert!(err.contains("other lengths"), "{err}");
        // A row without lengths (an older script) is taken by batch and mean, as before.
        assert!(check_same_lengths(&base(serde_json::Value::Null), &row(None)).is_ok());
    }

    #[test]
    fn shapes_parse_and_bad_ones_say_what_is_valid() {
        assert_eq!(
            parse_shapes("1x32768, 8X4096").unwrap(),
            vec![(1, 32768), (8, 4096)]
        );
        for bad in ["8", "0x10", "8x", "ax4", "8x-1"] {
            let err = parse_shapes(bad).unwrap_err().to_string();
            assert!(err.contains("BATCHxSEQ"), "{bad}: {err}");
        }
    }
}
