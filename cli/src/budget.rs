//! `calibrate --budget BITS --choices K/V,...`: a layer-wise plan chosen for a bit budget.
//!
//! Every layer takes one of the pairs (`--k`/`--v` first, then `--choices`). Each layer's loss
//! alone under each pair is measured as `--layer-codecs top:N` ranks layers
//! ([`layer_losses`]), and the plan is the assignment with the least summed loss whose mean
//! code bits per K/V element stay within the budget: an exact knapsack over the layers. Summed
//! single-layer losses stand for the whole plan's loss (on SmolLM2 at 2 bits the plans built
//! this way landed close to what their layers lost alone, bench/results/model-s26).

use crate::allocate::{PlanRequest, layer_losses, train_pair};
use crate::calibrate::{CalibrationOptions, RecordedKv, check_trainable};
use crate::error::{CliError, Result};
use indicatif::ProgressBar;
use vecinfer_quant::plan::layer_list;
use vecinfer_quant::{CodebookPlan, CodebookSet, PlanPart, VqCodec};

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
    if !budget.is_finite() || budget * 16.0 + 1e-9 < cheapest as f64 {
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
    let width = budget as usize + 1;
    // best[u]: the least loss of the layers so far at total cost u.
    let mut best = vec![f64::INFINITY; width];
    best[0] = 0.0;
    let mut picked = vec![vec![usize::MAX; width]; layers];
    for (layer, picks) in picked.iter_mut().enumerate() {
        let mut next = vec![f64::INFINITY; width];
        for (u, &so_far) in best.iter().enumerate() {
            if so_far.is_infinite() {
                continue;
            }
            for (p, &cost) in costs.iter().enumerate() {
                let at = u + cost as usize;
                let loss = so_far + losses[p][layer];
                if at < width && loss < next[at] {
                    next[at] = loss;
                    picks[at] = p;
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
        let p = picked[layer][total];
        out[layer] = p;
        total -= costs[p] as usize;
    }
    Some(out)
}

/// Trains every pair on all layers, measures each layer alone under each, and assembles the
/// plan [`choose`] picks for `budget` mean code bits (`pairs[0]`: the base, `--k`/`--v`).
pub fn calibrate_budget_plan(
    rec: &RecordedKv,
    req: PlanRequest<'_>,
    (budget, pairs): (f64, &[Pair]),
    bar: &dyn Fn(&str) -> ProgressBar,
) -> Result<CodebookPlan> {
    let layers = rec.keys.len();
    let total = budget_sixteenths(budget, pairs, layers)?;
    for &(k, v) in pairs {
        check_trainable(rec, k, req.base.granularity)?;
        check_trainable(rec, v, req.base.granularity)?;
    }
    let mut sets: Vec<CodebookSet> = Vec::with_capacity(pairs.len());
    for &(key_codec, value_codec) in pairs {
        let opts = CalibrationOptions {
            key_codec,
            value_codec,
            ..req.base.clone()
        };
        sets.push(train_pair(
            rec,
            &req,
            opts,
            "all layers, to measure them",
            bar,
        )?);
    }
    let refs: Vec<&CodebookSet> = sets.iter().collect();
    let measured = layer_losses(
        (req.model, req.gpu),
        req.probe_windows,
        &refs,
        (req.probe, &[]),
        &bar("probe"),
    )?;
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
    let name = |(k, v): Pair| format!("{k}/{v}");
    let predicted: f64 = choice.iter().enumerate().map(|(l, &p)| losses[p][l]).sum();
    let spent = choice.iter().map(|&p| costs[p]).sum::<u32>() as f64 / (16 * layers) as f64;
    let table: Vec<String> = (0..layers)
        .map(|l| {
            let each: Vec<String> = pairs
                .iter()
                .enumerate()
                .map(|(p, &pair)| format!("{} {:+.2}%", name(pair), 100.0 * losses[p][l]))
                .collect();
            format!("{l}: {}", each.join(" "))
        })
        .collect();
    let on = if req.gpu.is_some() { "GPU" } else { "CPU" };
    let allocation = format!(
        "calibrate --k {} --v {} --budget {budget} --choices {}; each layer's pair by the least summed loss of the layers alone within the budget: {spent:.3} mean code bits, the layers' losses summing to {:+.2}%; losses alone ({} windows of {} tokens of the calibration text, {} sinks, {} {} window, on the {on}): {}",
        pairs[0].0,
        pairs[0].1,
        pairs[1..]
            .iter()
            .map(|&p| name(p))
            .collect::<Vec<_>>()
            .join(","),
        100.0 * predicted,
        req.probe_windows.len(),
        req.probe_windows.first().map_or(0, |w| w.len()),
        req.probe.layout.sinks,
        req.probe.layout.residual,
        req.probe.layout.precision,
        table.join("; ")
    );
    let mut parts = Vec::new();
    for (p, set) in sets.into_iter().enumerate() {
        let mine: Vec<usize> = (0..layers).filter(|&l| choice[l] == p).collect();
        if mine.is_empty() {
            continue;
        }
        eprintln!(
            "{} bits {}: layers {}",
            name(pairs[p]),
            bits(pairs[p]),
            layer_list(&mine)
        );
        parts.push(PlanPart {
            set: set.into_layers(&mine)?,
            layers: mine,
        });
    }
    eprintln!(
        "chosen: {spent:.3} mean code bits of {budget}; the layers alone lose {:+.2}% in sum",
        100.0 * predicted
    );
    Ok(CodebookPlan::from_parts(parts, allocation)?)
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

    #[test]
    fn the_knapsack_finds_the_least_loss_within_the_budget() {
        let mut seed = 7u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as f64 / (1u64 << 31) as f64
        };
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
        for bad in [1.4, f64::NAN, f64::INFINITY, -1.0] {
            let err = budget_sixteenths(bad, &pairs, 30).unwrap_err().to_string();
            assert!(
                err.contains("at least 1.5") && err.contains("d4b8/d8b8"),
                "{bad}: {err}"
            );
        }
    }
}
