//! `vecinfer tune-steps`: re-ranks the engine's tuned keys by whole decode steps.
//!
//! `vecinfer tune` ranks attention configs by the kernel alone. In the engine's decode step
//! the kernel overlaps its neighbours (dependent launches), shares the GPU with them and meets
//! a warm L2, and close candidates rank differently there: at SmolLM2's 1 × 128k the 12
//! fastest alone (within 5% of each other) spread over 9% of the step
//! (bench/results/model-s12/README.md). This takes each engine key's fastest candidates alone,
//! makes each in turn the key's winner, times graph decode steps at the key's batch and
//! context in interleaved rounds, and writes the ranking into the entry
//! (`TunedEntry::steps`): its fastest becomes the winner the engine takes.

use crate::error::{CliError, Result};
use std::path::PathBuf;
use vecinfer_codegen::KernelConfig;
use vecinfer_engine::bench::{
    BenchSteps, capacity_for, free_memory, graph_step_ms, measure_bandwidth,
};
use vecinfer_engine::{CacheSpec, Engine, EngineOptions, Tuned, VqCache, WeightSource};
use vecinfer_quant::{CacheLayout, Granularity, KeyTransform, VqCodec};
use vecinfer_tuner::{KernelShape, StepResult, TuneKey, TunedConfigs, TunedEntry, update};

#[derive(clap::Args)]
pub struct TuneStepsArgs {
    /// Folder of tuned-configs files (one per GPU, named after it).
    #[arg(long, default_value = "tuned-configs")]
    pub out: PathBuf,
    /// Re-rank the keys of this file instead of `<out>/<gpu>.json`.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// A Llama-architecture GGUF; default: random weights of SmolLM2-135M's shape (step times
    /// do not depend on the values).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The VQ cache whose keys are re-ranked: codecs K/V (random layer codebooks; speed does
    /// not depend on them).
    #[arg(long, default_value = "d4b8/d4b8")]
    pub cache: String,
    /// Only keys of these batches (comma-separated; default: every engine key of the cache).
    #[arg(long)]
    pub batches: Option<String>,
    /// Only keys of these contexts (comma-separated).
    #[arg(long)]
    pub contexts: Option<String>,
    /// Candidates per key: the fastest alone.
    #[arg(long, default_value_t = 12)]
    pub top: usize,
    /// Interleaved rounds over a key's candidates (each a step time per candidate).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Untimed steps first (at least 1: the first graph step captures the graph).
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Timed graph steps per candidate and round (their median is the round's time).
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
    #[arg(long, default_value_t = 128)]
    pub residual: usize,
    #[arg(long, default_value_t = 0)]
    pub sinks: usize,
    /// GPU memory left free, GB: a key whose cache does not fit is skipped.
    #[arg(long, default_value_t = 3.0)]
    pub reserve_gb: f64,
}

fn list(s: Option<&str>, what: &str) -> Result<Option<Vec<usize>>> {
    s.map(|s| crate::decode_bench::list(s, what)).transpose()
}

fn codecs(s: &str) -> Result<(VqCodec, VqCodec)> {
    let (k, v) = s.split_once('/').ok_or_else(|| {
        CliError::Invalid(format!(
            "--cache {s:?}: give the key and value codecs as K/V, e.g. d4b8/d4b8"
        ))
    })?;
    Ok((k.trim().parse()?, v.trim().parse()?))
}

/// The keys to re-rank: the file's tuned entries of the engine's kernel shape (its pages
/// included), within the asked batches and contexts, smallest first.
fn engine_keys(
    store: &TunedConfigs,
    shape: KernelShape,
    batches: Option<&[usize]>,
    contexts: Option<&[usize]>,
) -> Vec<TuneKey> {
    let mut keys: Vec<TuneKey> = store
        .entries
        .values()
        .filter(|e| e.key.shape == shape && e.winner.is_some())
        .filter(|e| batches.is_none_or(|b| b.contains(&e.key.batch)))
        .filter(|e| contexts.is_none_or(|c| c.contains(&e.key.seq)))
        .map(|e| e.key)
        .collect();
    keys.sort_by_key(|k| (k.batch, k.seq));
    keys
}

/// A store holding only `entry`, with `config` its winner: what a cache built from it takes.
fn with_winner(store: &TunedConfigs, entry: &TunedEntry, config: (KernelConfig, f64)) -> Tuned {
    let mut one = TunedConfigs::new(store.device.clone());
    let mut e = entry.clone();
    e.winner = Some(vecinfer_tuner::Measured {
        config: config.0,
        median_ms: config.1,
    });
    e.steps = None;
    one.merge(e);
    Tuned::Loaded(Box::new(one))
}

pub fn run(a: TuneStepsArgs) -> Result<()> {
    let (key_codec, value_codec) = codecs(&a.cache)?;
    let batches = list(a.batches.as_deref(), "--batches")?;
    let contexts = list(a.contexts.as_deref(), "--contexts")?;
    if a.top == 0 || a.rounds == 0 || a.steps == 0 || a.warmup == 0 {
        return Err(CliError::Invalid(
            "--top, --rounds, --steps and --warmup must be at least 1".into(),
        ));
    }
    let steps = BenchSteps {
        warmup: a.warmup,
        timed: a.steps,
    };
    let open = |longest: usize| {
        let source = match &a.model {
            Some(p) => WeightSource::Gguf(p),
            None => WeightSource::Random {
                config: vecinfer_engine::synthetic::smollm2_config(),
                seed: 1,
            },
        };
        // Boxed: the engine's error is large.
        Engine::open(
            source,
            EngineOptions {
                max_positions: capacity_for(longest, steps),
                tuned_configs: None,
                ..EngineOptions::default()
            },
        )
        .map_err(Box::new)
    };
    let mut engine = open(1).map_err(|e| *e)?;
    let device = vecinfer_tuner::measure::fingerprint(&engine.gpu)?;
    let path = a
        .file
        .clone()
        .unwrap_or_else(|| a.out.join(device.file_name()));
    let store = TunedConfigs::load(&path)?;
    store.check_device(&device, &path)?;
    let c = engine.config.clone();
    let set = vecinfer_quant::synthetic::random_codebook_set(
        7,
        key_codec,
        value_codec,
        Granularity::Layer,
        c.layers,
        c.kv_heads,
        c.head_dim,
    );
    let layout = CacheLayout {
        sinks: a.sinks,
        residual: a.residual,
        ..CacheLayout::default()
    };
    let spec = CacheSpec::Vq {
        set: &set,
        transform: KeyTransform::BOTH,
        layout,
    };
    let shape_at = |engine: &Engine, batch, context| {
        vecinfer_engine::bench::bench_shape(engine, batch, context, steps)
    };
    let kernel = KernelShape::of(&VqCache::config_for(
        &set,
        KeyTransform::BOTH,
        &shape_at(&engine, 1, 1),
    ));
    let keys = engine_keys(&store, kernel, batches.as_deref(), contexts.as_deref());
    if keys.is_empty() {
        return Err(CliError::Invalid(format!(
            "{} has no tuned key of the engine's kernel {kernel} within the asked batches and contexts: tune them first (`vecinfer tune --layouts paged64`)",
            path.display()
        )));
    }
    // RoPE tables for the longest key (opened again: the tables are sized at open).
    let longest = keys.iter().map(|k| k.seq).max().unwrap_or(1);
    if capacity_for(longest, steps) > engine.max_positions() {
        drop(engine);
        engine = open(longest).map_err(|e| *e)?;
    }
    let model = match &a.model {
        Some(p) => p.display().to_string(),
        None => "random weights (SmolLM2-135M shape)".into(),
    };
    let bandwidth = measure_bandwidth(&engine)?;
    eprintln!(
        "{} ({}), {model}; {} keys of {kernel} in {}; device copy {:.2} TB/s",
        engine.gpu.name,
        engine.gpu.arch,
        keys.len(),
        path.display(),
        bandwidth / 1e12
    );
    let reserve = (a.reserve_gb * 1e9) as usize;
    let mut skipped = Vec::new();
    for key in keys {
        let entry = store.entries[&key.id()].clone();
        let candidates = entry.fastest_timed(a.top);
        let (batch, context) = (key.batch, key.seq);
        let (free, _) = free_memory(&engine)?;
        let need = batch
            * (spec.bytes_per_sequence(&engine, capacity_for(context, steps))
                + engine.step_bytes_per_sequence());
        if need + reserve > free {
            eprintln!(
                "skip {}: needs {:.1} GB, {:.1} GB free",
                key.id(),
                need as f64 / 1e9,
                free as f64 / 1e9
            );
            skipped.push(key.id());
            continue;
        }
        // The whole file must serve this shape from this key, as the engine will read it.
        let capacity = capacity_for(context, steps);
        match store.nearest(&TuneKey::for_shape(kernel, batch, capacity)) {
            Some((e, 0)) if e.key == key => {}
            _ => {
                eprintln!(
                    "skip {}: a {batch} x {context} cache ({capacity} tokens with the steps) takes another key of the file",
                    key.id()
                );
                skipped.push(key.id());
                continue;
            }
        }
        // A candidate whose step fails (e.g. graph capture) leaves the ranking, said once.
        let mut times: Vec<Option<Vec<f64>>> = vec![Some(Vec::new()); candidates.len()];
        for _ in 0..a.rounds {
            for (i, &candidate) in candidates.iter().enumerate() {
                let Some(rounds) = times[i].as_mut() else {
                    continue;
                };
                engine.set_tuned(with_winner(&store, &entry, candidate));
                let (taken, _) = VqCache::choose_config(
                    &set,
                    KeyTransform::BOTH,
                    &shape_at(&engine, batch, context),
                    engine.tuned(),
                    engine.gpu.arch,
                );
                if taken != candidate.0 {
                    return Err(CliError::Invalid(format!(
                        "{}: the cache took {taken}, not the candidate {}",
                        key.id(),
                        candidate.0
                    )));
                }
                match graph_step_ms(&engine, &spec, batch, context, steps) {
                    Ok(ms) => rounds.push(ms),
                    Err(e) => {
                        eprintln!("{}: {} left out: {e}", key.id(), candidate.0);
                        times[i] = None;
                    }
                }
            }
        }
        let mut results = Vec::new();
        let mut left_out = Vec::new();
        for (&(config, kernel_ms), step_ms) in candidates.iter().zip(times) {
            match step_ms {
                Some(step_ms) => results.push(StepResult {
                    config,
                    kernel_ms,
                    step_ms,
                }),
                None => left_out.push(config),
            }
        }
        if results.is_empty() {
            eprintln!("skip {}: no candidate ran a step", key.id());
            skipped.push(key.id());
            continue;
        }
        let alone = candidates[0].0;
        let workload = format!(
            "{model}, {} cache, {batch} x {context}, graph decode steps (median of {} after {}), {}",
            spec.label(),
            steps.timed,
            steps.warmup,
            engine.gpu.name
        );
        let mut ranked = entry.clone();
        ranked
            .rank_by_steps(workload, a.top, results, left_out)
            .map_err(CliError::Invalid)?;
        print_ranking(&key, &ranked, alone);
        update(&path, &device, |s| {
            let Some(e) = s.entries.get_mut(&key.id()) else {
                return Err(format!("{} left the file while it ran", key.id()));
            };
            if e.candidates != entry.candidates {
                return Err(format!(
                    "{} was tuned again while it ran; its steps are not written",
                    key.id()
                ));
            }
            *e = ranked;
            Ok(())
        })?
        .map_err(CliError::Invalid)?;
    }
    println!("wrote {}", path.display());
    if skipped.is_empty() {
        Ok(())
    } else {
        // A step error that sticks (a lost context) would skip every key after it: say so.
        Err(CliError::Invalid(format!(
            "{} of the keys were not re-ranked (above): {}",
            skipped.len(),
            skipped.join(", ")
        )))
    }
}

fn print_ranking(key: &TuneKey, e: &TunedEntry, alone: KernelConfig) {
    let Some(steps) = &e.steps else { return };
    println!("{} ({} rounds)", key.id(), steps.rounds);
    println!(
        "  {:<72} {:>9} {:>10}  per round",
        "config", "alone µs", "step ms"
    );
    for c in &steps.candidates {
        let rounds: Vec<String> = c.step_ms.iter().map(|ms| format!("{ms:.4}")).collect();
        let mark = if c.config == alone {
            " (fastest alone)"
        } else {
            ""
        };
        println!(
            "  {:<72} {:>9.1} {:>10.4}  {}{mark}",
            c.config.to_string(),
            c.kernel_ms * 1e3,
            c.mean_ms(),
            rounds.join(" ")
        );
    }
    let best = &steps.candidates[0];
    if let Some(old) = steps.candidates.iter().find(|c| c.config == alone) {
        println!(
            "  winner {}: {:.4} ms a step, {:+.1}% against the fastest alone",
            best.config,
            best.mean_ms(),
            (best.mean_ms() / old.mean_ms() - 1.0) * 100.0
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vecinfer_engine::CacheShape;

    fn shipped_h100() -> TunedConfigs {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tuned-configs/nvidia-h100-80gb-hbm3.json");
        TunedConfigs::load(&path).unwrap()
    }

    fn smollm2(batch: usize, capacity: usize) -> CacheShape {
        CacheShape {
            layers: 30,
            batch,
            q_heads: 9,
            kv_heads: 3,
            head_dim: 64,
            capacity,
        }
    }

    /// The engine's 2-bit SmolLM2 kernel shape and a codebook set of it.
    fn engine_kernel() -> (vecinfer_quant::CodebookSet, KernelShape) {
        let d4b8: VqCodec = "d4b8".parse().unwrap();
        let set = vecinfer_quant::synthetic::random_codebook_set(
            7,
            d4b8,
            d4b8,
            Granularity::Layer,
            30,
            3,
            64,
        );
        let shape = KernelShape::of(&VqCache::config_for(
            &set,
            KeyTransform::BOTH,
            &smollm2(1, 1),
        ));
        (set, shape)
    }

    #[test]
    fn the_engine_keys_are_the_files_paged_smollm2_keys_within_the_filters() {
        let store = shipped_h100();
        let (_, kernel) = engine_kernel();
        let all = engine_keys(&store, kernel, None, None);
        assert_eq!(all.len(), 15, "the shipped file's engine keys");
        assert!(all.iter().all(|k| k.shape == kernel));
        let some = engine_keys(&store, kernel, Some(&[1, 4]), Some(&[131072]));
        let ids: Vec<(usize, usize)> = some.iter().map(|k| (k.batch, k.seq)).collect();
        assert_eq!(ids, vec![(1, 131072), (4, 131072)]);
        assert!(engine_keys(&store, kernel, Some(&[3]), None).is_empty());
    }

    #[test]
    fn a_cache_takes_the_candidate_made_winner() {
        let store = shipped_h100();
        let (set, kernel) = engine_kernel();
        let key = engine_keys(&store, kernel, Some(&[1]), Some(&[131072]))[0];
        let entry = &store.entries[&key.id()];
        let candidates = entry.fastest_timed(12);
        assert_eq!(candidates.len(), 12);
        let winner = entry.winner.unwrap().config;
        match &entry.steps {
            // The shipped file is step-ranked: its winner is the steps' fastest.
            Some(steps) => assert_eq!(steps.candidates[0].config, winner),
            None => assert_eq!(candidates[0].0, winner, "the kernel-alone winner first"),
        }
        assert!(candidates.iter().any(|c| c.0 == winner));
        for &candidate in candidates.iter().filter(|c| c.0 != winner) {
            let tuned = with_winner(&store, entry, candidate);
            let (taken, source) = VqCache::choose_config(
                &set,
                KeyTransform::BOTH,
                &smollm2(1, 131072 + 100),
                &tuned,
                "sm_90",
            );
            assert_eq!(taken, candidate.0, "{source}");
        }
    }

    #[test]
    fn bad_arguments_are_typed_errors() {
        assert!(codecs("d4b8").unwrap_err().to_string().contains("K/V"));
        assert!(codecs("d4b8/x").is_err());
        assert!(
            list(Some("1,x"), "--batches")
                .unwrap_err()
                .to_string()
                .contains("\"x\"")
        );
        assert_eq!(list(Some("1, 4"), "--batches").unwrap(), Some(vec![1, 4]));
    }
}
