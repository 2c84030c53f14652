//! `calibrate --budget BITS --choices K/V,...`: a layer-wise plan chosen for a bit budget.
//!
//! Every layer takes one of the pairs (`--k`/`--v` first, then `--choices`). Each layer's loss
//! alone under each pair is measured as `--layer-codecs top:N` ranks layers
//! ([`layer_losses`]), and the plan is the assignment with the least summed loss whose mean
//! code bits per K/V element stay within the budget: an exact knapsack over the layers. Summed
//! single-layer losses stand for the whole plan's loss (on SmolLM2 at 2 bits the plans built
//! this way landed close to what their layers lost alone, bench/results/model-s26).

use crate::allocate::{PlanRequest, Probe, granularity_flag, layer_losses, train_pair};
use crate::calibrate::{CalibrationOptions, RecordedKv, check_trainable};
use crate::error::{CliError, Result};
use indicatif::ProgressBar;
use std::path::{Path, PathBuf};
use vecinfer_engine::Engine;
use vecinfer_model::{Llama, LlamaConfig};
use vecinfer_quant::plan::layer_list;
use vecinfer_quant::{CodebookPlan, CodebookSet, Granularity, KeyTransform, PlanPart, VqCodec};

/// A key codec and a value codec.
pub type Pair = (VqCodec, VqCodec);

/// A pair's mean code bits per K/V element in sixteenths of a bit: exact, since sub-vectors
/// hold 2, 4 or 8 dims.
pub fn sixteenths((k, v): Pair) -> u32 {
    let of = |c: VqCodec| 8 * c.bits() / c.sub_dim() as u32;
    of(k) + of(v)
}

fn bits(pair: Pair) -> f64 {
    sixteenths(pair) as f64 / 16.0
}

/// K/V pairs (`d4b12/d8b8`), comma-separated, appended to `pairs`; `option` names the list
/// and `repeated` says why a pair already in `pairs` is refused.
pub fn parse_pairs(
    given: &str,
    (option, repeated): (&'static str, &str),
    mut pairs: Vec<Pair>,
) -> Result<Vec<Pair>> {
    for item in given.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let bad = |valid: &str| CliError::BadOption {
            option,
            given: item.to_string(),
            valid: valid.to_string(),
        };
        let (k, v) = item
            .split_once('/')
            .ok_or_else(|| bad("K/V codec pairs such as d4b12/d8b8, comma-separated"))?;
        let pair = (k.trim().parse::<VqCodec>()?, v.trim().parse::<VqCodec>()?);
        if pairs.contains(&pair) {
            return Err(bad(repeated));
        }
        pairs.push(pair);
    }
    Ok(pairs)
}

/// `--choices`: K/V pairs, comma-separated, each once and none the base (`--k`/`--v`); the
/// base comes first in the result.
pub fn parse_choices(given: &str, base: Pair) -> Result<Vec<Pair>> {
    let repeated = "each pair once, and not --k/--v (every layer may take those already)";
    let pairs = parse_pairs(given, ("--choices", repeated), vec![base])?;
    if pairs.len() < 2 {
        return Err(CliError::BadOption {
            option: "--choices",
            given: given.to_string(),
            valid: "at least one K/V pair besides --k/--v, e.g. d4b12/d4b10".into(),
        });
    }
    Ok(pairs)
}

/// The budget over all `layers` in sixteenths, after checking that it is a number some
/// assignment meets (every layer at the cheapest pair).
pub fn budget_sixteenths(budget: f64, pairs: &[Pair], layers: usize) -> Result<u32> {
    let cheapest = pairs.iter().map(|&p| sixteenths(p)).min().unwrap_or(0);
    if !budget.is_finite() {
        return Err(CliError::BadOption {
            option: "--budget",
            given: budget.to_string(),
            valid: "a finite number of mean code bits per K/V element, e.g. 2".into(),
        });
    }
    if budget * 16.0 + 1e-9 < cheapest as f64 {
        return Err(CliError::BadOption {
            option: "--budget",
            given: budget.to_string(),
            valid: format!(
                "mean code bits per K/V element of at least {} (the cheapest pair's, {})",
                cheapest as f64 / 16.0,
                pairs
                    .iter()
                    .min_by_key(|&&p| sixteenths(p))
                    .map_or(String::new(), |(k, v)| format!("{k}/{v}"))
            ),
        });
    }
    // At most every layer at the dearest pair: a larger budget buys nothing more.
    let dearest = pairs.iter().map(|&p| sixteenths(p)).max().unwrap_or(0) as f64;
    let total = (budget * 16.0 * layers as f64 + 1e-6).floor();
    Ok(total.min(dearest * layers as f64) as u32)
}

/// The pair of each layer (indices into `costs`) with the least summed loss (`losses[pair]
/// [layer]`) whose summed cost stays within `budget`; among equal losses the cheaper total, then
/// earlier pairs. `None` when no assignment fits.
pub fn choose(losses: &[Vec<f64>], costs: &[u32], budget: u32) -> Option<Vec<usize>> {
    let layers = losses.first().map_or(0, Vec::len);
    // Every layer pays at least the cheapest pair: the table holds only the costs above it.
    let (extra, width) = above_cheapest(costs, budget, layers)?;
    // best[u]: the least loss of the layers so far at u above the cheapest total.
    let mut best = vec![f64::INFINITY; width];
    best[0] = 0.0;
    let mut picked = vec![vec![u8::MAX; width]; layers];
    for (layer, picks) in picked.iter_mut().enumerate() {
        let mut next = vec![f64::INFINITY; width];
        for (u, &so_far) in best.iter().enumerate() {
            if so_far.is_infinite() {
                continue;
            }
            for (p, &cost) in extra.iter().enumerate() {
                let at = u + cost;
                let loss = so_far + losses[p][layer];
                if at < width && loss < next[at] {
                    next[at] = loss;
                    picks[at] = p as u8;
                }
            }
        }
        best = next;
    }
    let mut total = (0..width)
        .filter(|&u| best[u].is_finite())
        .min_by(|&a, &b| best[a].total_cmp(&best[b]).then(a.cmp(&b)))?;
    let mut out = vec![0; layers];
    for layer in (0..layers).rev() {
        let p = picked[layer][total] as usize;
        out[layer] = p;
        total -= extra[p];
    }
    Some(out)
}

/// Each pair's cost above the cheapest, and the knapsack's width: the budget left over the
/// layers at the cheapest pair, plus one. `None` when even that does not fit, or when there
/// are more pairs than a `u8` pick holds.
fn above_cheapest(costs: &[u32], budget: u32, layers: usize) -> Option<(Vec<usize>, usize)> {
    let cheapest = *costs.iter().min()? as usize;
    if costs.len() > u8::MAX as usize {
        return None;
    }
    let left = (budget as usize).checked_sub(cheapest * layers)?;
    let extra = costs.iter().map(|&c| c as usize - cheapest).collect();
    Some((extra, left + 1))
}

/// [`choose`] among the assignments that differ from `from` in at most `max_moves` layers:
/// the least summed loss, then the least cost, then the fewest moves. `None` when none fits.
pub fn choose_near(
    losses: &[Vec<f64>],
    costs: &[u32],
    budget: u32,
    (from, max_moves): (&[usize], usize),
) -> Option<Vec<usize>> {
    let layers = from.len();
    let (extra, width) = above_cheapest(costs, budget, layers)?;
    let depth = max_moves.min(layers) + 1;
    // best[m][u]: the least loss of the layers so far with m moves at u above the cheapest.
    let mut best = vec![vec![f64::INFINITY; width]; depth];
    best[0][0] = 0.0;
    let mut picked = vec![vec![vec![u8::MAX; width]; depth]; layers];
    for (layer, picks) in picked.iter_mut().enumerate() {
        let mut next = vec![vec![f64::INFINITY; width]; depth];
        for (m, row) in best.iter().enumerate() {
            for (u, &so_far) in row.iter().enumerate() {
                if so_far.is_infinite() {
                    continue;
                }
                for (p, &cost) in extra.iter().enumerate() {
                    let (at, moves) = (u + cost, m + usize::from(p != from[layer]));
                    let loss = so_far + losses[p][layer];
                    if at < width && moves < depth && loss < next[moves][at] {
                        next[moves][at] = loss;
                        picks[moves][at] = p as u8;
                    }
                }
            }
        }
        best = next;
    }
    let (mut moves, mut total) = (0..width)
        .flat_map(|u| (0..depth).map(move |m| (m, u)))
        .filter(|&(m, u)| best[m][u].is_finite())
        .min_by(|&(m, u), &(n, v)| {
            best[m][u]
                .total_cmp(&best[n][v])
                .then(u.cmp(&v))
                .then(m.cmp(&n))
        })?;
    let mut out = vec![0; layers];
    for layer in (0..layers).rev() {
        let p = picked[layer][moves][total] as usize;
        out[layer] = p;
        total -= extra[p];
        moves -= usize::from(p != from[layer]);
    }
    Some(out)
}

/// Trains every pair at every granularity on all layers and hands them to [`budget_plan`]
/// (`pairs[0]` at `granularities[0]`: the base, `--k`/`--v`), so that the budget chooses
/// between one codebook per layer and one per KV head layer by layer when both are given.
pub fn calibrate_budget_plan(
    rec: &RecordedKv,
    req: PlanRequest<'_>,
    (budget, pairs, refine): (f64, &[Pair], usize),
    granularities: &[Granularity],
    bar: &dyn Fn(&str) -> ProgressBar,
) -> Result<CodebookPlan> {
    budget_sixteenths(budget, pairs, rec.keys.len())?;
    for &(k, v) in pairs {
        for &g in granularities {
            check_trainable(rec, k, g)?;
            check_trainable(rec, v, g)?;
        }
    }
    let mut sets: Vec<CodebookSet> = Vec::with_capacity(pairs.len() * granularities.len());
    for &(key_codec, value_codec) in pairs {
        for &granularity in granularities {
            let opts = CalibrationOptions {
                key_codec,
                value_codec,
                granularity,
                ..req.base.clone()
            };
            let what = format!("{granularity} codebooks for all layers, to measure them");
            sets.push(train_pair(rec, &req, opts, &what, bar)?);
        }
    }
    let grains = granularity_flag(granularities);
    let command = format!(
        "calibrate --k {} --v {}{grains} --budget {budget} --choices {}{}",
        pairs[0].0,
        pairs[0].1,
        pairs[1..]
            .iter()
            .map(|&p| name(p))
            .collect::<Vec<_>>()
            .join(","),
        refine_flag(refine)
    );
    let on = (req.model, req.gpu);
    budget_plan(
        sets,
        (on, req.probe_windows, req.probe),
        (budget, refine),
        command,
        bar,
    )
}

fn name((k, v): Pair) -> String {
    format!("{k}/{v}")
}

/// ` --refine N`, or nothing for none.
pub fn refine_flag(refine: usize) -> String {
    if refine == 0 {
        String::new()
    } else {
        format!(" --refine {refine}")
    }
}

/// Where the plan's losses are measured: the model (with `gpu`, its evaluations run on that
/// engine), the calibration windows and the probe's cache layout.
pub type Measure<'a> = ((&'a Llama, Option<&'a Engine>), &'a [&'a [u32]], Probe);

/// The plan for `budget` mean code bits from `sets`, one per K/V pair and each for every layer
/// (`sets[0]`: the base). Each layer's loss alone under each set is measured, an exact
/// knapsack picks the assignment with the least summed loss ([`choose`]), and `refine` passes
/// of [`refine`] then re-measure moves with the whole plan in place. `command` heads the
/// plan's `allocation` text.
pub fn budget_plan(
    sets: Vec<CodebookSet>,
    (on, windows, probe): Measure<'_>,
    (budget, refine_passes): (f64, usize),
    command: String,
    bar: &dyn Fn(&str) -> ProgressBar,
) -> Result<CodebookPlan> {
    let pairs: Vec<Pair> = sets
        .iter()
        .map(|s| (s.meta.key_codec, s.meta.value_codec))
        .collect();
    let layers = sets.first().map_or(0, |s| s.meta.layers);
    let total = budget_sixteenths(budget, &pairs, layers)?;
    let names: Vec<String> = sets.iter().map(|s| s.meta.pair_label()).collect();
    let refs: Vec<&CodebookSet> = sets.iter().collect();
    let (fp16, measured) = layer_losses(on, windows, &refs, (probe, &[]), &bar("probe"))?;
    let losses: Vec<Vec<f64>> = measured
        .iter()
        .map(|l| l.iter().map(|&(_, loss)| loss).collect())
        .collect();
    let costs: Vec<u32> = pairs.iter().map(|&p| sixteenths(p)).collect();
    let choice = choose(&losses, &costs, total).ok_or_else(|| {
        CliError::Invalid(format!(
            "no assignment of the pairs fits {budget} mean code bits"
        ))
    })?;
    let summed = |c: &[usize]| -> f64 { c.iter().enumerate().map(|(l, &p)| losses[p][l]).sum() };
    let spent =
        |c: &[usize]| c.iter().map(|&p| costs[p]).sum::<u32>() as f64 / (16 * layers) as f64;
    // What the plan is, in the log and in the file.
    let describe = |c: &[usize]| {
        format!(
            "{} ({:.3} mean code bits; the layers alone lose {:+.2}% in sum)",
            choice_text(&names, c),
            spent(c),
            100.0 * summed(c)
        )
    };
    let alone = describe(&choice);
    eprintln!("chosen from the layers alone: {alone}");
    say_choice("from the layers alone", &sets, &choice);
    let table: Vec<String> = (0..layers)
        .map(|l| {
            let each: Vec<String> = names
                .iter()
                .enumerate()
                .map(|(p, name)| format!("{name} {:+.2}%", 100.0 * losses[p][l]))
                .collect();
            format!("{l}: {}", each.join(" "))
        })
        .collect();
    let (choice, refined) = if refine_passes == 0 {
        (choice, String::new())
    } else {
        let evaluate = |c: &[usize]| -> Result<f64> {
            let plan = assemble(&sets, c, String::new())?;
            crate::allocate::plan_perplexity(on, windows, Some(&plan), probe)
        };
        let eval_bar = bar("refine");
        let r = refine(
            choice,
            (&costs, &names),
            total,
            refine_passes,
            &mut |c: &[usize]| {
                let ppl = evaluate(c)?;
                eval_bar.inc(1);
                Ok(ppl)
            },
            &|line: &str| eval_bar.suspend(|| eprintln!("refine: {line} (fp16 {fp16:.4})")),
        )?;
        eval_bar.finish_and_clear();
        let text = format!(
            "; then up to {refine_passes} pass(es) re-measuring each layer moved to its next cheaper and dearer pairs with the whole plan in place (perplexities on those windows, fp16 {fp16:.4}): {}; refined to {}",
            r.log.join("; "),
            describe(&r.choice)
        );
        (r.choice, text)
    };
    let (how, on_what) = (
        if on.1.is_some() { "GPU" } else { "CPU" },
        format!(
            "{} windows of {} tokens of the calibration text, {} sinks, {} {} window",
            windows.len(),
            windows.first().map_or(0, |w| w.len()),
            probe.layout.sinks,
            probe.layout.residual,
            probe.layout.precision,
        ),
    );
    let allocation = format!(
        "{command}; losses of each layer alone ({on_what}, on the {how}, fp16 {fp16:.4}): {}; the knapsack on them (the least summed loss within the budget) chose {alone}{refined}",
        table.join("; ")
    );
    say_choice("chosen", &sets, &choice);
    eprintln!("chosen: {:.3} mean code bits of {budget}", spent(&choice));
    assemble(&sets, &choice, allocation)
}

/// `vecinfer plan --budget`'s files, `base` first: each one `calibrate` set (not a plan) of a
/// distinct K/V pair, all for the same model and layers, with vecinfer's keys.
pub fn load_choice_sets(base: &Path, choices: &[PathBuf]) -> Result<Vec<CodebookSet>> {
    if choices.is_empty() {
        return Err(CliError::BadOption {
            option: "--choices",
            given: "no file".into(),
            valid: "at least one calibrate file besides --codebooks, comma-separated".into(),
        });
    }
    let mut sets: Vec<CodebookSet> = Vec::with_capacity(choices.len() + 1);
    let mut paths: Vec<&Path> = Vec::with_capacity(choices.len() + 1);
    for path in std::iter::once(base).chain(choices.iter().map(PathBuf::as_path)) {
        let option = if sets.is_empty() {
            "--codebooks"
        } else {
            "--choices"
        };
        let bad = |valid: String| CliError::BadOption {
            option,
            given: path.display().to_string(),
            valid,
        };
        let plan = CodebookPlan::load(path)?;
        let label = plan.label();
        let set = plan.into_uniform().ok_or_else(|| {
            bad(format!(
                "one calibrate set for every layer, not the layer-wise plan {label}"
            ))
        })?;
        if !set.keys.contains_key(KeyTransform::BOTH.name()) {
            return Err(bad("a file calibrated with vecinfer in --methods (smooth + Hadamard keys), as the plan is for vecinfer".into()));
        }
        let pair = (set.meta.key_codec, set.meta.value_codec);
        if let Some(first) = sets.first() {
            let (m, f) = (&set.meta, &first.meta);
            // Names may differ (a renamed model file); `save_plan` notes it.
            if (m.layers, m.kv_heads, m.head_dim) != (f.layers, f.kv_heads, f.head_dim) {
                return Err(bad(format!(
                    "a file for the model of --codebooks ({} layers, {} KV heads × dim {} of {:?}); this one is for {} layers, {} × {} of {:?}",
                    f.layers,
                    f.kv_heads,
                    f.head_dim,
                    f.model_id,
                    m.layers,
                    m.kv_heads,
                    m.head_dim,
                    m.model_id
                )));
            }
        }
        // The same pair may come twice with other codebooks per head or per layer.
        if let Some(i) = sets.iter().position(|s| {
            (s.meta.key_codec, s.meta.value_codec, s.meta.granularity)
                == (pair.0, pair.1, set.meta.granularity)
        }) {
            return Err(bad(format!(
                "each K/V pair once at each granularity: {} is also the choice of {}",
                set.meta.pair_label(),
                paths[i].display()
            )));
        }
        sets.push(set);
        paths.push(path);
    }
    Ok(sets)
}

/// What a budget's measurement refuses before the model loads: no windows, windows that hold
/// no code past the sinks and window, and on the GPU a learned rotation (the kernels apply the
/// Hadamard).
pub fn check_measure(
    sets: &[CodebookSet],
    (windows, ctx, on_gpu): (usize, usize, bool),
) -> Result<()> {
    crate::allocate::check_probe(windows, ctx)?;
    if on_gpu && let Some(s) = sets.iter().find(|s| s.meta.rotation_alternations > 0) {
        return Err(CliError::BadOption {
            option: "--probe-device",
            given: format!(
                "cuda with {}/{} calibrated with a learned rotation",
                s.meta.key_codec, s.meta.value_codec
            ),
            valid: "the GPU kernels apply the Hadamard only: measure on the CPU, or calibrate with --rotation hadamard".into(),
        });
    }
    Ok(())
}

/// The files must be for the model loaded: its layers, KV heads and head dim. A different name
/// (calibrate records the GGUF file's stem) is only said: a copy may be named otherwise.
pub fn check_model(set: &CodebookSet, model_id: &str, config: &LlamaConfig) -> Result<()> {
    let meta = &set.meta;
    let (have, want) = (
        (config.layers, config.kv_heads, config.head_dim),
        (meta.layers, meta.kv_heads, meta.head_dim),
    );
    if have != want {
        return Err(CliError::BadOption {
            option: "--model",
            given: format!(
                "{model_id} ({} layers, {} KV heads × dim {})",
                have.0, have.1, have.2
            ),
            valid: format!(
                "the model the files were calibrated for: {:?} ({} layers, {} KV heads × dim {})",
                meta.model_id, want.0, want.1, want.2
            ),
        });
    }
    if meta.model_id != model_id {
        eprintln!(
            "note: the files were calibrated for {:?}, the model file is {model_id:?} (same shape)",
            meta.model_id
        );
    }
    Ok(())
}

/// `K/V layers L; ...`: each choice's layers in `choice` (`names`: of the choices).
fn choice_text(names: &[String], choice: &[usize]) -> String {
    let mut parts = Vec::new();
    for (p, name) in names.iter().enumerate() {
        let mine: Vec<usize> = (0..choice.len()).filter(|&l| choice[l] == p).collect();
        if !mine.is_empty() {
            parts.push(format!("{name} layers {}", layer_list(&mine)));
        }
    }
    parts.join("; ")
}

/// A line a choice: `what`, its name, its bits and its layers in `choice`.
fn say_choice(what: &str, sets: &[CodebookSet], choice: &[usize]) {
    for (p, set) in sets.iter().enumerate() {
        let mine: Vec<usize> = (0..choice.len()).filter(|&l| choice[l] == p).collect();
        if !mine.is_empty() {
            let b = bits((set.meta.key_codec, set.meta.value_codec));
            let list = layer_list(&mine);
            eprintln!("{what}: {} bits {b}: layers {list}", set.meta.pair_label());
        }
    }
}

/// The plan that gives layer `l` the layers of `sets[choice[l]]`.
fn assemble(sets: &[CodebookSet], choice: &[usize], allocation: String) -> Result<CodebookPlan> {
    let mut parts = Vec::new();
    for (p, set) in sets.iter().enumerate() {
        let mine: Vec<usize> = (0..choice.len()).filter(|&l| choice[l] == p).collect();
        if !mine.is_empty() {
            parts.push(PlanPart {
                set: set.layers(&mine)?,
                layers: mine,
            });
        }
    }
    Ok(CodebookPlan::from_parts(parts, allocation)?)
}

/// What [`refine`] ends with.
#[derive(Debug)]
pub struct Refined {
    pub choice: Vec<usize>,
    /// The measured perplexity of `choice`.
    pub perplexity: f64,
    /// A line a pass.
    pub log: Vec<String>,
}

/// The pairs a layer at `p` is moved to: those of the nearest cost below `p`'s, those of its
/// own cost (none but `p` unless pairs tie), and those of the nearest cost above.
fn neighbours(costs: &[u32], p: usize) -> Vec<usize> {
    let own = costs[p];
    let below = costs.iter().copied().filter(|&c| c < own).max();
    let above = costs.iter().copied().filter(|&c| c > own).min();
    (0..costs.len())
        .filter(|&q| {
            q != p && (costs[q] == own || Some(costs[q]) == below || Some(costs[q]) == above)
        })
        .collect()
}

/// Re-measures a plan's moves with the whole plan in place. Summed single-layer losses miss
/// how coarse layers compound (SmolLM2 at 1.5 bits: +9.0% summed, +14.0% measured,
/// bench/results/model-s26). Each pass measures every layer moved alone to its next cheaper
/// and next dearer pair, the rest of the plan kept (`measure`: the perplexity of an
/// assignment), solves the knapsack again on those changes, and keeps the new plan only if its
/// measured perplexity is lower; if it is not, the best step of at most half as many moves, and
/// so on down to one move. It stops early when no step gains. `say` gets a line a step.
pub fn refine(
    start: Vec<usize>,
    (costs, names): (&[u32], &[String]),
    budget: u32,
    passes: usize,
    measure: &mut dyn FnMut(&[usize]) -> Result<f64>,
    say: &dyn Fn(&str),
) -> Result<Refined> {
    let layers = start.len();
    if start.iter().map(|&p| costs[p]).sum::<u32>() > budget {
        return Err(CliError::Invalid(
            "refine starts from a plan over its budget".into(),
        ));
    }
    let mut choice = start;
    let mut perplexity = measure(&choice)?;
    let mut log = vec![format!("start {perplexity:.4}")];
    say(&log[0]);
    for pass in 1..=passes {
        let mut change = vec![vec![f64::INFINITY; layers]; costs.len()];
        for layer in 0..layers {
            change[choice[layer]][layer] = 0.0;
            for q in neighbours(costs, choice[layer]) {
                let mut moved = choice.clone();
                moved[layer] = q;
                change[q][layer] = measure(&moved)? / perplexity - 1.0;
            }
        }
        // The whole step first; while it measures worse, the best step of at most half as
        // many moves (moves chosen together compound as the probe's did).
        let (mut limit, mut step) = (layers, None);
        while limit > 0 {
            // The plan itself fits, so some assignment always does.
            let Some(next) = choose_near(&change, costs, budget, (&choice, limit)) else {
                break;
            };
            let moved: Vec<usize> = (0..layers).filter(|&l| next[l] != choice[l]).collect();
            let predicted: f64 = (0..layers).map(|l| change[next[l]][l]).sum();
            // Only a step the measured moves say gains (a tie is no reason to evaluate).
            if moved.is_empty() || predicted >= 0.0 {
                break;
            }
            let got = measure(&next)?;
            let what: Vec<String> = moved
                .iter()
                .map(|&l| format!("{l} {}→{}", names[choice[l]], names[next[l]]))
                .collect();
            let line = format!(
                "pass {pass}: {} layers moved ({}), predicted {:+.2}%, measured {got:.4} ({:+.2}%)",
                moved.len(),
                what.join(", "),
                100.0 * predicted,
                100.0 * (got / perplexity - 1.0)
            );
            if got < perplexity {
                log.push(line);
                say(log.last().expect("pushed"));
                step = Some((next, got));
                break;
            }
            log.push(format!("{line}: lost"));
            say(log.last().expect("pushed"));
            limit = moved.len() / 2;
        }
        let Some((next, got)) = step else {
            log.push(format!("pass {pass}: no step gains, kept the plan"));
            say(log.last().expect("pushed"));
            break;
        };
        choice = next;
        perplexity = got;
    }
    Ok(Refined {
        choice,
        perplexity,
        log,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(text: &str) -> Pair {
        let (k, v) = text.split_once('/').unwrap();
        (k.parse().unwrap(), v.parse().unwrap())
    }

    #[test]
    fn code_bits_are_exact_sixteenths() {
        assert_eq!(sixteenths(pair("d4b8/d8b8")), 24); // 1.5
        assert_eq!(sixteenths(pair("d4b12/d4b10")), 44); // 2.75
        assert_eq!(sixteenths(pair("d8b10/d8b8")), 18); // 1.125
        assert_eq!(sixteenths(pair("d2b8/d2b8")), 64); // 4
    }

    /// Every assignment, for small cases: the least loss within the budget, then the least cost.
    fn brute(losses: &[Vec<f64>], costs: &[u32], budget: u32) -> Option<(f64, u32)> {
        let (pairs, layers) = (costs.len(), losses[0].len());
        let mut best: Option<(f64, u32)> = None;
        for code in 0..pairs.pow(layers as u32) {
            let (mut c, mut loss, mut cost) = (code, 0.0, 0);
            #[allow(clippy::needless_range_loop)] // the row (pair) differs per layer
            for layer in 0..layers {
                let p = c % pairs;
                c /= pairs;
                loss += losses[p][layer];
                cost += costs[p];
            }
            if cost <= budget
                && best.is_none_or(|(l, k)| loss < l - 1e-12 || (loss <= l + 1e-12 && cost < k))
            {
                best = Some((loss, cost));
            }
        }
        best
    }

    /// A seeded stream of numbers in [0, 1).
    fn uniform(mut seed: u64) -> impl FnMut() -> f64 {
        move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as f64 / (1u64 << 31) as f64
        }
    }

    #[test]
    fn the_knapsack_finds_the_least_loss_within_the_budget() {
        let mut next = uniform(7);
        for case in 0..300 {
            let pairs = 2 + case % 3;
            let layers = 1 + case % 6;
            let costs: Vec<u32> = (0..pairs).map(|_| 16 + (next() * 40.0) as u32).collect();
            // Losses may be negative: a probe's noise.
            let losses: Vec<Vec<f64>> = (0..pairs)
                .map(|_| (0..layers).map(|_| next() - 0.1).collect())
                .collect();
            let budget = (next() * 60.0 * layers as f64) as u32;
            let got = choose(&losses, &costs, budget);
            let want = brute(&losses, &costs, budget);
            match (got, want) {
                (None, None) => {}
                (Some(choice), Some((loss, _))) => {
                    let cost: u32 = choice.iter().map(|&p| costs[p]).sum();
                    let got_loss: f64 = choice.iter().enumerate().map(|(l, &p)| losses[p][l]).sum();
                    assert!(cost <= budget, "case {case}: {cost} > {budget}");
                    assert!(
                        (got_loss - loss).abs() < 1e-9,
                        "case {case}: {got_loss} vs {loss}"
                    );
                }
                (got, want) => panic!("case {case}: {got:?} vs {want:?}"),
            }
        }
    }

    #[test]
    fn ties_take_the_cheaper_then_the_earlier_pair() {
        // Equal losses: the cheaper pair; equal costs and losses: the first.
        assert_eq!(
            choose(&[vec![0.5], vec![0.5]], &[24, 44], 100),
            Some(vec![0])
        );
        assert_eq!(
            choose(&[vec![0.5], vec![0.5]], &[44, 24], 100),
            Some(vec![1])
        );
        assert_eq!(
            choose(&[vec![0.5], vec![0.5]], &[24, 24], 100),
            Some(vec![0])
        );
        // The budget binds: the better pair only where it gains most.
        let losses = [vec![0.04, 0.01, 0.02], vec![0.01, 0.009, 0.0]];
        assert_eq!(choose(&losses, &[24, 44], 3 * 24 + 20), Some(vec![1, 0, 0]));
        assert_eq!(choose(&losses, &[24, 44], 3 * 24 + 40), Some(vec![1, 0, 1]));
        assert_eq!(choose(&losses, &[24, 44], 3 * 24 - 1), None);
    }

    fn names() -> Vec<String> {
        vec!["cheap".into(), "dear".into()]
    }

    /// [`refine`] of three layers, costs 16 and 32 within 64, up to 3 passes.
    fn three_layers(start: Vec<usize>, measure: &dyn Fn(&[usize]) -> f64) -> Result<Refined> {
        let mut measure = |c: &[usize]| Ok(measure(c));
        refine(start, (&[16, 32], &names()), 64, 3, &mut measure, &|_| {})
    }

    /// Three layers, a cheap pair (0) and a dear one (1), room for one dear layer. Alone,
    /// layer 0 gains most from the dear pair; with the plan in place layer 2 does (it
    /// compounds with layer 1), which only a measure of the whole plan sees.
    fn compounding(c: &[usize]) -> f64 {
        let alone = [[0.10, 0.02], [0.05, 0.04], [0.06, 0.03]];
        let mut loss: f64 = c.iter().enumerate().map(|(l, &p)| alone[l][p]).sum();
        if c[1] == 0 && c[2] == 0 {
            loss += 0.2;
        }
        20.0 * loss.exp()
    }

    #[test]
    fn refining_moves_to_what_the_whole_plan_measures_best() {
        let (costs, budget) = ([16, 32], 3 * 16 + 16);
        let mut calls = 0;
        let mut measure = |c: &[usize]| {
            calls += 1;
            Ok(compounding(c))
        };
        let r = refine(
            vec![1, 0, 0],
            (&costs, &names()),
            budget,
            3,
            &mut measure,
            &|_| {},
        )
        .unwrap();
        assert_eq!(r.choice, vec![0, 0, 1]);
        assert!((r.perplexity - compounding(&[0, 0, 1])).abs() < 1e-12);
        assert!(r.perplexity < compounding(&[1, 0, 0]));
        // The start, then per pass 3 single moves and the new plan; pass 2 finds no move.
        assert_eq!(calls, 1 + 4 + 3);
        assert!(
            r.log[1].starts_with("pass 1: 2 layers moved"),
            "{:?}",
            r.log
        );
        assert_eq!(r.log[2], "pass 2: no step gains, kept the plan");
    }

    #[test]
    fn a_step_that_measures_worse_is_halved() {
        // Each move gains alone, together they lose: the half step (one move) is taken.
        let measure_of = |c: &[usize]| {
            let moved = [c[0] == 0, c[2] == 1];
            20.0 * match moved {
                [true, true] => 1.5,
                [true, false] | [false, true] => 0.9,
                [false, false] => 1.0,
            }
        };
        let r = three_layers(vec![1, 0, 0], &measure_of).unwrap();
        // Layer 2's upgrade needs layer 0's bits: alone, only layer 0's move fits.
        assert_eq!(r.choice, vec![0, 0, 0]);
        assert_eq!(r.perplexity, 18.0);
        assert!(
            r.log[1].starts_with("pass 1: 2 layers moved"),
            "{:?}",
            r.log
        );
        assert!(r.log[1].ends_with(": lost"), "{:?}", r.log);
        assert!(
            r.log[2].starts_with("pass 1: 1 layers moved"),
            "{:?}",
            r.log
        );
        // Moves that only fit together and lose together: the plan is kept.
        let paired = |c: &[usize]| match c {
            [1, 0, 0] => 20.0,
            [0, 0, 0] => 21.0,
            [1, 0, 1] => 18.0,
            [1, 1, 0] => 20.5,
            [0, 0, 1] => 25.0,
            _ => 22.0,
        };
        let r = three_layers(vec![1, 0, 0], &paired).unwrap();
        assert_eq!(r.choice, vec![1, 0, 0]);
        assert_eq!(r.perplexity, 20.0);
        assert!(r.log[1].ends_with(": lost"), "{:?}", r.log);
        assert_eq!(r.log[2], "pass 1: no step gains, kept the plan");
        // Never over the budget, whatever the moves gain.
        let dearer_is_better = |c: &[usize]| 20.0 - c.iter().sum::<usize>() as f64;
        let r = three_layers(vec![0, 0, 0], &dearer_is_better);
        let over = three_layers(vec![1, 1, 1], &dearer_is_better);
        assert!(over.unwrap_err().to_string().contains("over its budget"));
        let spent: u32 = r.unwrap().choice.iter().map(|&p| [16, 32][p]).sum();
        assert!(spent <= 64);
    }

    #[test]
    fn the_near_knapsack_finds_the_least_loss_within_its_moves() {
        let mut next = uniform(11);
        for case in 0..300 {
            let (pairs, layers): (usize, usize) = (2 + case % 3, 1 + case % 6);
            let costs: Vec<u32> = (0..pairs).map(|_| 16 + (next() * 40.0) as u32).collect();
            let losses: Vec<Vec<f64>> = (0..pairs)
                .map(|_| (0..layers).map(|_| next() - 0.5).collect())
                .collect();
            let from: Vec<usize> = (0..layers)
                .map(|_| (next() * pairs as f64) as usize)
                .collect();
            let budget = from.iter().map(|&p| costs[p]).sum::<u32>() + (next() * 30.0) as u32;
            let limit = (next() * (layers + 1) as f64) as usize;
            // Brute force over every assignment within the moves and the budget.
            let mut want: Option<f64> = None;
            for code in 0..pairs.pow(layers as u32) {
                let c: Vec<usize> = (0..layers)
                    .map(|l| code / pairs.pow(l as u32) % pairs)
                    .collect();
                let moves = (0..layers).filter(|&l| c[l] != from[l]).count();
                let cost: u32 = c.iter().map(|&p| costs[p]).sum();
                let loss: f64 = (0..layers).map(|l| losses[c[l]][l]).sum();
                if moves <= limit && cost <= budget && want.is_none_or(|w| loss < w) {
                    want = Some(loss);
                }
            }
            let got = choose_near(&losses, &costs, budget, (&from, limit)).unwrap();
            let moves = (0..layers).filter(|&l| got[l] != from[l]).count();
            let cost: u32 = got.iter().map(|&p| costs[p]).sum();
            let loss: f64 = (0..layers).map(|l| losses[got[l]][l]).sum();
            assert!(moves <= limit && cost <= budget, "case {case}");
            assert!(
                (loss - want.unwrap()).abs() < 1e-9,
                "case {case}: {loss} vs {want:?}"
            );
        }
    }

    #[test]
    fn neighbours_are_the_next_cheaper_and_dearer_pairs() {
        let costs = [18, 16, 24, 40];
        assert_eq!(neighbours(&costs, 0), vec![1, 2]);
        assert_eq!(neighbours(&costs, 1), vec![0]);
        assert_eq!(neighbours(&costs, 3), vec![2]);
        // Pairs of one cost are each other's neighbours, and both reach past the tie.
        let tied = [8, 16, 16, 24];
        assert_eq!(neighbours(&tied, 1), vec![0, 2, 3]);
        assert_eq!(neighbours(&tied, 2), vec![0, 1, 3]);
        assert_eq!(neighbours(&[16, 16, 24], 0), vec![1, 2]);
    }

    /// The whole path on a 4-layer random model on the CPU: the plan stays within its bits, and
    /// refining keeps or lowers what the plan measures.
    #[test]
    fn a_refined_budget_plan_measures_no_worse_than_the_layers_alone() {
        let (_dir, config, model) = crate::allocate::tiny::four_layer_model(5);
        let tokens = crate::allocate::tiny::two_windows((53, 71, 3));
        let windows: Vec<&[u32]> = tokens.iter().map(Vec::as_slice).collect();
        let sets = || -> Vec<CodebookSet> {
            // The cheapest pair twice: one codebook per layer, and one per KV head.
            let (layer, head) = (
                vecinfer_quant::Granularity::Layer,
                vecinfer_quant::Granularity::Head,
            );
            [
                ("d8b8", 3, layer),
                ("d4b8", 4, layer),
                ("d4b12", 5, layer),
                ("d8b8", 6, head),
            ]
            .into_iter()
            .map(|(k, seed, granularity)| {
                vecinfer_quant::synthetic::random_codebook_set(
                    seed,
                    k.parse().unwrap(),
                    "d8b8".parse().unwrap(),
                    granularity,
                    config.layers,
                    config.kv_heads,
                    config.head_dim,
                )
            })
            .collect()
        };
        let probe = Probe::default();
        let measure = ((&model, None), windows.as_slice(), probe);
        let bar = |_: &str| ProgressBar::hidden();
        let ppl = |plan: &CodebookPlan| {
            crate::allocate::plan_perplexity(measure.0, &windows, Some(plan), probe)
        };
        let mut stepped = 0;
        for budget in [1.25, 1.5, 1.75] {
            let plan_of = |refine| {
                budget_plan(sets(), measure, (budget, refine), "test".into(), &bar).unwrap()
            };
            let (alone, refined) = (plan_of(0), plan_of(2));
            for plan in [&alone, &refined] {
                let (k, v) = plan.bits_per_element(probe.method);
                assert!((k + v) / 2.0 <= budget + 1e-9, "{}: {k} {v}", plan.label());
            }
            let (a, r) = (ppl(&alone).unwrap(), ppl(&refined).unwrap());
            let text = refined.allocation();
            // The refinement starts from the plan of the layers alone, as measured here, and
            // ends no worse.
            assert!(text.contains(&format!("start {a:.4}")), "{a}: {text}");
            assert!(r <= a, "refined {r} vs alone {a}");
            assert!(text.contains("; refined to "), "{text}");
            // The per-head choice was measured beside its per-layer twin.
            assert!(text.contains("d8b8/d8b8 per head +"), "{text}");
            assert!(!alone.allocation().contains("re-measuring"));
            let taken = text
                .split("; ")
                .any(|step| step.contains("layers moved (") && !step.ends_with(": lost"));
            if taken {
                assert!(r < a, "a step was taken: {r} vs {a}");
                assert_ne!(alone.label(), refined.label());
                stepped += 1;
            }
        }
        // The random model's layers compound, so some budget takes a step.
        assert!(stepped > 0);
    }

    /// `calibrate --budget --granularity layer,head` on a 4-layer random model (CPU): every
    /// pair is trained both ways and measured side by side, and the plan keeps its bits.
    #[test]
    fn a_budget_over_both_granularities_weighs_each_pair_both_ways() {
        let (_dir, _config, model) = crate::allocate::tiny::four_layer_model(7);
        let tokens = crate::allocate::tiny::two_windows((29, 83, 1));
        let windows: Vec<&[u32]> = tokens.iter().map(Vec::as_slice).collect();
        let rec = crate::calibrate::record_kv(&model, &windows, &ProgressBar::hidden()).unwrap();
        let (base, high) = (pair("d8b8/d8b8"), pair("d4b8/d8b8"));
        let request = PlanRequest {
            base: CalibrationOptions {
                transforms: vec![KeyTransform::BOTH],
                kmeans_iters: 3,
                ..CalibrationOptions::new(base.0, base.1)
            },
            entries: &[],
            model: &model,
            gpu: None,
            probe_windows: &windows,
            probe: Probe::default(),
            model_id: "tiny",
            provenance: "test".into(),
        };
        let both = [Granularity::Layer, Granularity::Head];
        let bar = |_: &str| ProgressBar::hidden();
        let plan =
            calibrate_budget_plan(&rec, request, (1.25, &[base, high], 0), &both, &bar).unwrap();
        let text = plan.allocation();
        assert!(
            text.starts_with("calibrate --k d8b8 --v d8b8 --granularity layer,head --budget 1.25"),
            "{text}"
        );
        // Each layer's loss under all four sets is in the table.
        for name in [
            "d8b8/d8b8",
            "d8b8/d8b8 per head",
            "d4b8/d8b8",
            "d4b8/d8b8 per head",
        ] {
            let measured = [format!("{name} +"), format!("{name} -")];
            let times = measured
                .iter()
                .map(|m| text.matches(m.as_str()).count())
                .sum::<usize>();
            assert_eq!(times, 4, "{name}: {text}");
        }
        let (k, v) = plan.bits_per_element(Probe::default().method);
        assert!((k + v) / 2.0 <= 1.25 + 1e-9, "{}: {k} {v}", plan.label());
    }

    #[test]
    fn files_of_another_model_shape_are_refused() {
        let config = vecinfer_engine::synthetic::tiny_config();
        let set = |layers| {
            vecinfer_quant::synthetic::random_codebook_set(
                1,
                "d8b8".parse().unwrap(),
                "d8b8".parse().unwrap(),
                vecinfer_quant::Granularity::Layer,
                layers,
                config.kv_heads,
                config.head_dim,
            )
        };
        // Another name with the same shape is only noted: a copy may be named otherwise.
        assert!(check_model(&set(config.layers), "renamed", &config).is_ok());
        let err = check_model(&set(config.layers + 1), "tiny", &config)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("the model the files were calibrated for") && err.contains("3 layers"),
            "{err}"
        );
    }

    #[test]
    fn choices_and_budgets_say_what_is_valid() {
        let base = pair("d4b8/d8b8");
        assert_eq!(
            parse_choices("d4b12/d4b10, d4b12/d4b8", base).unwrap(),
            vec![base, pair("d4b12/d4b10"), pair("d4b12/d4b8")]
        );
        for (given, want) in [
            ("", "at least one K/V pair"),
            ("d4b8/d8b8", "not --k/--v"),
            ("d4b12/d4b10,d4b12/d4b10", "each pair once"),
            ("d4b12", "K/V codec pairs"),
            ("d3b8/d4b8", "d3b8"),
        ] {
            let err = parse_choices(given, base).unwrap_err().to_string();
            assert!(err.contains(want), "{given}: {err}");
        }
        let pairs = [base, pair("d4b12/d4b10")];
        assert_eq!(budget_sixteenths(1.5, &pairs, 30).unwrap(), 24 * 30);
        assert_eq!(budget_sixteenths(2.0, &pairs, 30).unwrap(), 32 * 30);
        // A fraction of a sixteenth a layer still counts over the model.
        assert_eq!(
            budget_sixteenths(1.75 + 0.5 / 16.0, &pairs, 30).unwrap(),
            28 * 30 + 15
        );
        // More than every layer at the dearest pair buys nothing more.
        assert_eq!(budget_sixteenths(9.0, &pairs, 30).unwrap(), 44 * 30);
        for bad in [1.4, -1.0] {
            let err = budget_sixteenths(bad, &pairs, 30).unwrap_err().to_string();
            assert!(
                err.contains("at least 1.5") && err.contains("d4b8/d8b8"),
                "{bad}: {err}"
            );
        }
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let err = budget_sixteenths(bad, &pairs, 30).unwrap_err().to_string();
            assert!(err.contains("a finite number"), "{bad}: {err}");
        }
    }
}
