//! `vecinfer tune`: search kernel configs per GPU, verify and time each, keep the winners in
//! `tuned-configs/<gpu>.json`; `vecinfer compare-tuning`: a strategy's picks against an
//! exhaustive run's measurements.

use crate::bench::{
    GridArgs, parse_codec_pairs, parse_list, parse_shapes, query_group, read_baseline, variant_name,
};
use crate::error::{CliError, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use vecinfer_codegen::KernelConfig;
use vecinfer_runtime::Gpu;
use vecinfer_tuner::measure::{Progress, TuneOptions, Tuner};
use vecinfer_tuner::{
    Budget, DeviceFingerprint, KernelShape, LayoutKey, SearchSpace, Strategy, TuneKey,
    TunedConfigs, TunedEntry, codegen_fingerprint, update,
};

#[derive(clap::Args)]
pub struct TuneArgs {
    /// Each shape is tuned in its power-of-two bucket.
    #[command(flatten)]
    pub grid: GridArgs,
    /// exhaustive, random (random:SEED) or guided (best-first local search from the default).
    #[arg(long, default_value = "guided")]
    pub strategy: Strategy,
    /// Per key: evaluations (40), seconds (90s) or unlimited.
    #[arg(long, default_value = "unlimited")]
    pub budget: Budget,
    /// GPU ordinals, comma-separated, or `all` (one worker per GPU, results merged).
    #[arg(long, default_value = "0")]
    pub devices: String,
    /// Folder of tuned-configs files (one per GPU, named after it).
    #[arg(long, default_value = "tuned-configs")]
    pub out: PathBuf,
    /// Write to this file instead of `<out>/<gpu>.json`.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Tune keys again even where the file has a complete result of the same strategy.
    #[arg(long)]
    pub retune: bool,
    /// Timed runs per candidate (median and spread).
    #[arg(long, default_value_t = 20)]
    pub runs: usize,
    /// Search-space overrides, comma-separated (default: SearchSpace::default()).
    #[arg(long)]
    pub scoring: Option<String>,
    #[arg(long)]
    pub tile: Option<String>,
    #[arg(long)]
    pub warps: Option<String>,
    #[arg(long)]
    pub stages: Option<String>,
    /// Codebook copies to search (mma only; books of up to 16 KB take them), comma-separated.
    #[arg(long)]
    pub replicas: Option<String>,
    #[arg(long)]
    pub split: Option<String>,
    /// Blocks per SM the compiler must fit (launch bounds; 0 = no bound).
    #[arg(long)]
    pub min_blocks: Option<String>,
    /// Key mma rows searched (tensor-core kernel): false (query heads), true (a slab's
    /// tokens), comma-separated (default: both).
    #[arg(long)]
    pub key_token_rows: Option<String>,
    /// Tokens per page searched for `paged` keys (default: 16 to 512).
    #[arg(long)]
    pub pages: Option<String>,
    /// JSON of ../shared/bench/fp16_decode_baseline.py --json, run in the same session: adds
    /// SDPA to the final table.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Also write the final table (Markdown) here.
    #[arg(long)]
    pub table: Option<PathBuf>,
    /// Write the keys, untuned, for a GPU not at hand (format only, no numbers): its name.
    #[arg(long)]
    pub plan_only: Option<String>,
    /// With --plan-only: the GPU's compute capability (e.g. 8.0) and SM count.
    #[arg(long, default_value = "8.0")]
    pub compute_capability: String,
    #[arg(long, default_value_t = 108)]
    pub sm_count: u32,
    /// With --plan-only: replace a file that holds measured results (otherwise refused).
    #[arg(long)]
    pub force: bool,
    /// No GPU: put the entries of these tuned-configs files (comma-separated; the same GPU and
    /// code generator) into --file, or <out>/<gpu>.json: keys tuned in another run or on
    /// another machine. A complete entry replaces the file's entry of the same key.
    #[arg(long, value_delimiter = ',')]
    pub merge: Vec<PathBuf>,
}

impl TuneArgs {
    fn space(&self) -> Result<SearchSpace> {
        let mut s = SearchSpace::default();
        if let Some(v) = parse_list(self.scoring.as_deref(), "scoring")? {
            s.scoring = v;
        }
        if let Some(v) = parse_list(self.tile.as_deref(), "tile")? {
            s.tile_tokens = v;
        }
        if let Some(v) = parse_list(self.warps.as_deref(), "warps")? {
            s.warps = v;
        }
        if let Some(v) = parse_list(self.stages.as_deref(), "stages")? {
            s.stages = v;
        }
        if let Some(v) = parse_list(self.replicas.as_deref(), "replicas")? {
            s.codebook_replicas = v;
        }
        if let Some(v) = parse_list(self.split.as_deref(), "split")? {
            s.split = v;
        }
        if let Some(v) = parse_list(self.min_blocks.as_deref(), "min-blocks")? {
            s.min_blocks_per_sm = v;
        }
        if let Some(v) = parse_list(self.pages.as_deref(), "pages")? {
            s.page_tokens = v;
        }
        if let Some(v) = parse_list(self.key_token_rows.as_deref(), "key-token-rows")? {
            s.key_token_rows = v;
        }
        Ok(s)
    }

    fn keys(&self) -> Result<Vec<TuneKey>> {
        let group = query_group(self.grid.heads, self.grid.kv_heads)?;
        let mut keys = Vec::new();
        let layouts: Vec<LayoutKey> =
            parse_list(Some(&self.grid.layouts), "layouts")?.unwrap_or_default();
        for layout in layouts {
            for (k, v) in parse_codec_pairs(&self.grid.codecs)? {
                for &(batch, seq) in &parse_shapes(&self.grid.shapes)? {
                    let shape =
                        KernelShape::new(self.grid.head_dim, group, k, v).with_layout(layout);
                    let key = TuneKey::for_shape(shape, batch, seq);
                    if !keys.contains(&key) {
                        keys.push(key);
                    }
                }
            }
        }
        Ok(keys)
    }
}

fn devices(list: &str) -> Result<Vec<usize>> {
    if list.trim() == "all" {
        // cudarc panics when it cannot load libcuda: check first, for the same error as
        // `--devices 0` gives.
        vecinfer_runtime::libraries::ensure_driver()?;
        let n = cudarc::driver::CudaContext::device_count()
            .map_err(|e| CliError::from(vecinfer_runtime::RuntimeError::from(e)))?;
        return Ok((0..n as usize).collect());
    }
    let ordinals: Vec<usize> = parse_list(Some(list), "devices")?.unwrap_or_default();
    for (i, d) in ordinals.iter().enumerate() {
        if ordinals[..i].contains(d) {
            return Err(CliError::BadOption {
                option: "--devices",
                given: list.to_string(),
                valid: format!("GPU {d} is named twice; name each GPU once, or `all`"),
            });
        }
    }
    Ok(ordinals)
}

/// The file a GPU's results go to.
fn store_path(a: &TuneArgs, device: &DeviceFingerprint) -> PathBuf {
    a.file
        .clone()
        .unwrap_or_else(|| a.out.join(device.file_name()))
}

pub fn run(a: TuneArgs) -> Result<()> {
    if !a.merge.is_empty() {
        return merge_files(&a);
    }
    let keys = a.keys()?;
    if let Some(name) = &a.plan_only {
        return plan_only(&a, name, &keys);
    }
    // Everything the run reads or checks comes first: a bad baseline or count must not
    // surface after hours of tuning.
    let baseline = read_baseline(a.baseline.as_deref())?;
    crate::error::at_least_one("--runs", a.runs, "at least 1 timed run per candidate")?;
    let options = TuneOptions {
        space: a.space()?,
        strategy: a.strategy,
        budget: a.budget,
        kv_heads: a.grid.kv_heads,
        runs: a.runs,
        ..TuneOptions::default()
    };
    let ordinals = devices(&a.devices)?;
    if ordinals.is_empty() {
        return Err(CliError::Invalid("--devices: no GPU to tune on".into()));
    }
    let queue = Mutex::new(keys.iter().copied().collect::<VecDeque<TuneKey>>());
    let bars = MultiProgress::new();
    let paths = Mutex::new(Vec::<PathBuf>::new());
    let results: Vec<Result<()>> = std::thread::scope(|scope| {
        let workers: Vec<_> = ordinals
            .iter()
            .map(|&ordinal| {
                let (queue, bars, paths, options, a) = (&queue, &bars, &paths, &options, &a);
                scope.spawn(move || worker(ordinal, a, options, queue, bars, paths))
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(CliError::Invalid("a tuning worker panicked".into())))
            })
            .collect()
    });
    for r in results {
        r?;
    }
    let mut paths = paths.into_inner().expect("no worker panicked");
    paths.sort();
    paths.dedup();
    for path in paths {
        let store = TunedConfigs::load(&path)?;
        let table = result_table(&store, &keys, &baseline)?;
        println!("{}: {}\n{table}", path.display(), store.device.name);
        if let Some(t) = &a.table {
            crate::error::write_output(
                t,
                format!("# {} ({})\n\n{table}", store.device.name, path.display()).as_bytes(),
            )?;
        }
    }
    Ok(())
}

/// One GPU's worker: takes keys off the shared queue until it is empty.
fn worker(
    ordinal: usize,
    a: &TuneArgs,
    options: &TuneOptions,
    queue: &Mutex<VecDeque<TuneKey>>,
    bars: &MultiProgress,
    paths: &Mutex<Vec<PathBuf>>,
) -> Result<()> {
    let gpu = Gpu::new(ordinal)?;
    let mut tuner = Tuner::new(&gpu)?;
    let device = tuner.fingerprint.clone();
    let path = store_path(a, &device);
    paths.lock().expect("no worker panicked").push(path.clone());
    let bar = bars.add(ProgressBar::new(0));
    bar.set_style(
        ProgressStyle::with_template("GPU {prefix} {bar:30} {pos}/{len} {msg}")
            .expect("valid template"),
    );
    bar.set_prefix(ordinal.to_string());
    loop {
        let Some(key) = queue.lock().expect("no worker panicked").pop_front() else {
            break;
        };
        // Read under the lock (no write); a file that is corrupt or from another GPU stops
        // the run.
        let stored = vecinfer_tuner::store::read(&path, &device)?;
        let previous: Option<TunedEntry> = stored
            .as_ref()
            .and_then(|s| s.entries.get(&key.id()).cloned());
        // Winners of the kernel shape's other buckets: warm starts for the search.
        let hints: Vec<KernelConfig> = stored
            .iter()
            .flat_map(|s| s.entries.values())
            .filter(|e| e.key.shape == key.shape && e.key != key)
            .filter_map(|e| e.winner.map(|w| w.config))
            .collect();
        if let Some(p) = &previous
            && p.complete
            && p.strategy == options.strategy
            && p.kv_heads == options.kv_heads
            && !a.retune
        {
            say(
                &bar,
                format!(
                    "{key}: already tuned ({}), skipped; --retune to redo",
                    p.strategy
                ),
            );
            continue;
        }
        if previous.as_ref().is_some_and(|p| p.steps.is_some()) {
            say(
                &bar,
                format!("{key}: tuned again, its step ranking goes; run tune-steps again"),
            );
        }
        bar.set_message(key.id());
        let mut checkpoint_error = None;
        let entry = tuner.tune(
            key,
            options,
            previous.as_ref().filter(|p| !p.complete),
            &hints,
            &mut |p| match p {
                Progress::Compiling { shape, count } => {
                    bar.set_message(format!("{key}: compiling {count} candidates of {shape}"));
                }
                Progress::Evaluated {
                    done,
                    planned,
                    best_ms,
                    ..
                } => {
                    bar.set_length(planned as u64);
                    bar.set_position(done as u64);
                    let best = best_ms.map_or("-".into(), |ms| format!("{ms:.4} ms"));
                    bar.set_message(format!("{key} best {best}"));
                }
            },
            &mut |partial| {
                if let Err(e) = update(&path, &device, |s| s.merge(partial.clone())) {
                    checkpoint_error.get_or_insert(e);
                }
            },
        )?;
        if let Some(e) = checkpoint_error {
            return Err(e.into());
        }
        let summary = match (&entry.winner, &entry.default) {
            (Some(w), Some(d)) => format!(
                "{key}: {} at {:.4} ms, default {:.4} ms ({} evaluations of {})",
                variant_name(&w.config),
                w.median_ms,
                d.median_ms,
                entry.evaluations,
                entry.space_size
            ),
            (Some(w), None) => format!(
                "{key}: {} at {:.4} ms; the default did not run (pruned or wrong, see the file) ({} evaluations of {})",
                variant_name(&w.config),
                w.median_ms,
                entry.evaluations,
                entry.space_size
            ),
            _ => format!("{key}: no candidate passed verification"),
        };
        say(&bar, format!("GPU {ordinal}: {summary}"));
        update(&path, &device, |s| s.merge(entry))?;
    }
    bar.finish_and_clear();
    Ok(())
}

/// A line above the progress bar, or on stderr where the bar is hidden (not a terminal).
fn say(bar: &ProgressBar, line: String) {
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}

/// `--merge`: the entries of other files of the same device fingerprint into the target file.
fn merge_files(a: &TuneArgs) -> Result<()> {
    if a.plan_only.is_some() {
        return Err(CliError::Invalid(
            "--merge and --plan-only: one at a time (a merge writes measured entries, a plan untuned keys)".into(),
        ));
    }
    let sources = a
        .merge
        .iter()
        .map(|path| Ok((path, TunedConfigs::load(path)?)))
        .collect::<Result<Vec<_>>>()?;
    let device = sources[0].1.device.clone();
    if let Some((path, other)) = sources.iter().find(|(_, s)| s.device != device) {
        return Err(CliError::Invalid(format!(
            "{} is for {:?}, {} for {:?}: merge files of one GPU and code generator only",
            path.display(),
            other.device,
            sources[0].0.display(),
            device
        )));
    }
    let target = a
        .file
        .clone()
        .unwrap_or_else(|| a.out.join(device.file_name()));
    let merged = update(&target, &device, |store| {
        let before = store.entries.len();
        for (path, source) in &sources {
            for entry in source.entries.values() {
                let mut entry = entry.clone();
                // The same tuning without its step ranking keeps the target's; another one
                // replaces it, said out loud.
                if let Some(old) = store.entries.get(&entry.key.id())
                    && old.steps.is_some()
                    && entry.steps.is_none()
                {
                    if old.candidates == entry.candidates {
                        entry.steps = old.steps.clone();
                        entry.winner = old.winner;
                    } else {
                        eprintln!(
                            "{}: {}'s entry replaces a step-ranked one; run tune-steps again",
                            entry.key,
                            path.display()
                        );
                    }
                }
                store.merge(entry);
            }
        }
        (store.entries.len() - before, store.entries.len())
    })?;
    println!(
        "{}: {} new keys, {} in all (from {} files)",
        target.display(),
        merged.0,
        merged.1,
        sources.len()
    );
    Ok(())
}

/// Keys with no numbers, for a GPU not at hand: the file's format and what would be tuned.
fn plan_only(a: &TuneArgs, name: &str, keys: &[TuneKey]) -> Result<()> {
    let device = DeviceFingerprint {
        name: name.to_string(),
        compute_capability: a.compute_capability.clone(),
        sm_count: a.sm_count,
        driver: "not tuned".into(),
        nvrtc: "not tuned".into(),
        crate_version: env!("CARGO_PKG_VERSION").into(),
        codegen: codegen_fingerprint(),
    };
    let path = store_path(a, &device);
    let mut store = TunedConfigs::new(device);
    for key in keys {
        store.merge(TunedEntry::untuned(*key, a.grid.kv_heads));
    }
    vecinfer_tuner::write_plan(&path, store, a.force)?;
    println!("{}: {} keys, untuned", path.display(), keys.len());
    Ok(())
}

/// Tuned vs default vs SDPA FP16 and FlashInfer FP8 per key, Markdown. A baseline row of the
/// key's batch and length but of other heads or head dim is an error, never a ratio.
pub fn result_table(
    store: &TunedConfigs,
    keys: &[TuneKey],
    baseline: &[crate::bench::BaselineRow],
) -> Result<String> {
    let mut s = String::from(
        "| key | tuned ms | default ms | tuned / default | SDPA ms | tuned vs SDPA | FP8 ms | tuned vs FP8 | evaluations | winner |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for key in keys {
        let Some(e) = store.entries.get(&key.id()) else {
            continue;
        };
        let Some(w) = &e.winner else {
            s += &format!(
                "| {key} | - | - | - | - | - | - | - | {} | not tuned |\n",
                e.evaluations
            );
            continue;
        };
        let shape = crate::bench::BaselineShape {
            batch: key.batch,
            seq: key.seq,
            heads: e.kv_heads * key.shape.group,
            kv_heads: e.kv_heads,
            head_dim: key.shape.head_dim,
            ragged: false,
        };
        let base = crate::bench::baseline_for(baseline, shape)?;
        let sdpa = base.and_then(|b| b.sdpa_ms);
        let fp8 = base.and_then(|b| b.flashinfer_fp8_ms);
        // A default that did not run (pruned, e.g. for spilling) has no time.
        let (default_ms, ratio) = match &e.default {
            Some(d) => (
                format!("{:.4}", d.median_ms),
                format!("{:.3}×", d.median_ms / w.median_ms),
            ),
            None => ("did not run".into(), "-".into()),
        };
        let ms = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.4}"));
        let speedup = |v: Option<f64>| v.map_or("-".into(), |v| format!("{:.2}×", v / w.median_ms));
        s += &format!(
            "| {key} | {:.4} | {default_ms} | {ratio} | {} | {} | {} | {} | {} of {} | {} |\n",
            w.median_ms,
            ms(sdpa),
            speedup(sdpa),
            ms(fp8),
            speedup(fp8),
            e.evaluations,
            e.space_size,
            variant_name(&w.config),
        );
    }
    Ok(s)
}

/// Arguments of `vecinfer compare-tuning`.
#[derive(clap::Args)]
pub struct CompareArgs {
    /// A file tuned with --strategy exhaustive.
    #[arg(long)]
    pub exhaustive: PathBuf,
    /// A file tuned with another strategy on the same GPU.
    #[arg(long)]
    pub other: PathBuf,
    /// Also write the table (Markdown) here.
    #[arg(long)]
    pub table: Option<PathBuf>,
}

/// One key of a comparison: the other strategy's pick, timed in the exhaustive run.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub key: String,
    pub exhaustive_best_ms: f64,
    pub exhaustive_evaluations: usize,
    pub other_evaluations: usize,
    /// The other strategy's winner as the exhaustive run measured it (same run, same noise).
    pub other_pick_ms: Option<f64>,
}

impl Comparison {
    /// How much slower the other pick is than the exhaustive best (0.02 = 2%).
    pub fn gap(&self) -> Option<f64> {
        self.other_pick_ms
            .map(|ms| ms / self.exhaustive_best_ms - 1.0)
    }
}

/// Whether every entry of `store` that `other` also has is a complete exhaustive run, as a
/// reference must be (a shipped file may hold guided keys beside its exhaustive ones, e.g.
/// paged keys whose page size the tuner chooses; they are not compared).
pub fn check_reference(store: &TunedConfigs, other: &TunedConfigs, path: &Path) -> Result<()> {
    let refuse = |key: &str, what: String| {
        Err(CliError::NotExhaustive {
            path: path.display().to_string(),
            key: key.to_string(),
            what,
        })
    };
    let compared: Vec<_> = store
        .entries
        .iter()
        .filter(|(id, _)| other.entries.contains_key(*id))
        .collect();
    if compared.is_empty() {
        return refuse(
            "(none)",
            "missing: the file has no entry the other file has".into(),
        );
    }
    for (id, e) in compared {
        if e.strategy != vecinfer_tuner::Strategy::Exhaustive {
            return refuse(id, format!("from a {} search", e.strategy));
        }
        if !e.complete || e.winner.is_none() {
            return refuse(id, "incomplete (an interrupted run, or untuned)".into());
        }
        if !matches!(e.budget, vecinfer_tuner::Budget::Unlimited) {
            return refuse(
                id,
                format!(
                    "limited by budget {} ({} evaluations of {})",
                    e.budget, e.evaluations, e.space_size
                ),
            );
        }
    }
    Ok(())
}

pub fn compare(exhaustive: &TunedConfigs, other: &TunedConfigs) -> Vec<Comparison> {
    let mut out = Vec::new();
    for (id, e) in &exhaustive.entries {
        // Kernel-alone times on both sides: a step-ranked winner is not the fastest alone.
        let (Some(best), Some(o)) = (e.fastest_alone(), other.entries.get(id)) else {
            continue;
        };
        // The other run's own pick alone, not a step ranking's winner.
        let Some(pick) = o.fastest_alone() else {
            continue;
        };
        out.push(Comparison {
            key: id.clone(),
            exhaustive_best_ms: best.median_ms,
            exhaustive_evaluations: e.evaluations,
            other_evaluations: o.evaluations,
            other_pick_ms: e.result_of(&pick.config).and_then(|r| r.ms()),
        });
    }
    out
}

pub fn run_compare(a: CompareArgs) -> Result<()> {
    let (ex, other) = (
        TunedConfigs::load(&a.exhaustive)?,
        TunedConfigs::load(&a.other)?,
    );
    check_reference(&ex, &other, &a.exhaustive)?;
    if ex.device.name != other.device.name {
        return Err(CliError::Invalid(format!(
            "{} is from {}, {} from {}: compare runs on the same GPU",
            a.exhaustive.display(),
            ex.device.name,
            a.other.display(),
            other.device.name
        )));
    }
    let rows = compare(&ex, &other);
    let mut s = String::from(
        "| key | exhaustive best ms | evaluations | other's pick (exhaustive run) ms | gap | other's evaluations | share |\n|---|---|---|---|---|---|---|\n",
    );
    for r in &rows {
        s += &format!(
            "| {} | {:.4} | {} | {} | {} | {} | {:.0}% |\n",
            r.key,
            r.exhaustive_best_ms,
            r.exhaustive_evaluations,
            r.other_pick_ms.map_or("-".into(), |v| format!("{v:.4}")),
            r.gap()
                .map_or("-".into(), |g| format!("{:+.1}%", 100.0 * g)),
            r.other_evaluations,
            100.0 * r.other_evaluations as f64 / r.exhaustive_evaluations.max(1) as f64
        );
    }
    let within = rows
        .iter()
        .filter(|r| r.gap().is_some_and(|g| g <= 0.03))
        .count();
    let (o, e): (usize, usize) = rows.iter().fold((0, 0), |(o, e), r| {
        (
            o.saturating_add(r.other_evaluations),
            e.saturating_add(r.exhaustive_evaluations),
        )
    });
    s += &format!(
        "\n{within} of {} keys within 3% of the exhaustive best; {o} evaluations against {e} ({:.0}%).\n",
        rows.len(),
        100.0 * o as f64 / e.max(1) as f64
    );
    print!("{s}");
    if let Some(t) = &a.table {
        crate::error::write_output(t, s.as_bytes())?;
    }
    Ok(())
}

/// `vecinfer info`: the device, NVRTC, the cache folders and what is tuned for this GPU.
pub fn info(tuned_dir: &Path) -> Result<()> {
    match vecinfer_runtime::nvrtc_version() {
        Ok((major, minor)) => println!("NVRTC        {major}.{minor}"),
        Err(e) => println!("NVRTC        unavailable: {e}"),
    }
    println!(
        "kernel cache {}",
        vecinfer_runtime::compile::kernel_cache_dir().display()
    );
    println!(
        "model cache  {}",
        vecinfer_model::fetch::cache_dir().display()
    );
    let gpu = match Gpu::new(0) {
        Ok(gpu) => gpu,
        Err(e) => {
            println!("GPU          none: {e}");
            return Ok(());
        }
    };
    let device = vecinfer_tuner::measure::fingerprint(&gpu)?;
    println!(
        "GPU          {} (sm_{}, {} SMs, driver CUDA {}, {} KB shared memory per block)",
        device.name,
        device.compute_capability.replace('.', ""),
        device.sm_count,
        device.driver,
        gpu.max_shared_per_block / 1024
    );
    let path = tuned_dir.join(device.file_name());
    let store = match TunedConfigs::load(&path)
        .and_then(|s| s.check_device(&device, &path).map(|()| s))
    {
        Ok(s) => s,
        Err(e) => {
            println!(
                "tuned        nothing usable: {e}\n             (kernels use the default heuristic; run `vecinfer tune`)"
            );
            return Ok(());
        }
    };
    let tuned: Vec<&TunedEntry> = store
        .entries
        .values()
        .filter(|e| e.winner.is_some())
        .collect();
    println!(
        "tuned        {} ({} keys tuned)",
        path.display(),
        tuned.len()
    );
    for e in tuned {
        let w = e.winner.as_ref().expect("filtered");
        let ranked = match &e.steps {
            Some(s) => format!(
                "  (step-ranked over {}: {:.4} ms a step)",
                s.candidates.len() + s.left_out.len(),
                s.candidates[0].mean_ms()
            ),
            None => String::new(),
        };
        println!(
            "  {}  {:.4} ms  {}{ranked}",
            e.key,
            w.median_ms,
            variant_name(&w.config)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file compared with itself: every key's pick is its own fastest alone, also where the
    /// winner was re-ranked by whole steps (the engine keys).
    #[test]
    fn a_file_compared_with_itself_has_no_gap() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tuned-configs/nvidia-h100-80gb-hbm3.json");
        let store = TunedConfigs::load(&path).unwrap();
        let rows = compare(&store, &store);
        assert_eq!(rows.len(), store.entries.len());
        assert!(store.entries.values().any(|e| e.steps.is_some()));
        for r in rows {
            assert_eq!(r.other_pick_ms, Some(r.exhaustive_best_ms), "{}", r.key);
        }
    }

    #[test]
    fn all_devices_fails_like_device_zero_without_a_driver() {
        // Without libcuda both are the same typed error (not a panic in cudarc); with a GPU
        // both work.
        let all = devices("all");
        match Gpu::new(0) {
            Ok(_) => assert!(all.unwrap().contains(&0)),
            Err(zero) => {
                let all = all.unwrap_err();
                assert_eq!(all.to_string(), CliError::from(zero).to_string());
            }
        }
        assert_eq!(devices("0, 2").unwrap(), [0, 2]);
        let err = devices("1,1").unwrap_err().to_string();
        assert!(err.contains("named twice"), "{err}");
        assert!(devices("x").is_err());
    }
}
