//! `calibrate --layer-codecs`: a layer-wise bit allocation, trained from one recording and
//! written as one plan file that `--codebooks` reads anywhere.
//!
//! Each `LAYERS=K/V` gives layers other codecs than `--k`/`--v`. LAYERS names layers
//! (`17,18` or `16-19`) or `top:N`: the N layers that lose most when each alone is quantized
//! at the base codecs, among those not named before. Ranking runs the probe of `eval
//! --only-layers` on the calibration text (session 24: on SmolLM2 at 2 bits, four of 30
//! layers make most of the loss, bench/results/model-s24).

use crate::calibrate::{CalibrationOptions, RecordedKv, check_trainable, train_codebooks};
use crate::error::{CliError, Result};
use crate::evaluate::{QuantizedAttention, coded_tokens, logits_nll};
use indicatif::ProgressBar;
use std::str::FromStr;
use vecinfer_engine::Engine;
use vecinfer_model::Llama;
use vecinfer_quant::plan::{layer_list, parse_layer_list};
use vecinfer_quant::{
    CacheLayout, CodebookPlan, CodebookSet, Granularity, KeyTransform, Method, PlanPart, VqCodec,
};

/// Which layers a `--layer-codecs` entry takes.
#[derive(Clone, Debug, PartialEq)]
pub enum LayerChoice {
    Named(Vec<usize>),
    /// The N most sensitive layers not named before.
    Top(usize),
}

/// One `--layer-codecs LAYERS=K/V`.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerCodecs {
    pub layers: LayerChoice,
    pub key: VqCodec,
    pub value: VqCodec,
}

impl FromStr for LayerCodecs {
    type Err = CliError;

    fn from_str(given: &str) -> Result<Self> {
        let bad = |valid: String| CliError::BadOption {
            option: "--layer-codecs",
            given: given.to_string(),
            valid,
        };
        let example = "LAYERS=K/V, e.g. 17-18,20=d4b12/d4b8 or top:4=d4b12/d4b10";
        let (layers, codecs) = given.split_once('=').ok_or_else(|| bad(example.into()))?;
        let (k, v) = codecs.split_once('/').ok_or_else(|| bad(example.into()))?;
        let layers = match layers.trim().strip_prefix("top:") {
            Some(n) => match n.trim().parse::<usize>() {
                Ok(n) if n > 0 => LayerChoice::Top(n),
                _ => return Err(bad(format!("top:N takes N ≥ 1 layers ({example})"))),
            },
            None => LayerChoice::Named(parse_layer_list(layers)?),
        };
        Ok(Self {
            layers,
            key: k.trim().parse()?,
            value: v.trim().parse()?,
        })
    }
}

/// How the probe ranks layers: perplexity on calibration windows with one layer quantized at
/// the base codecs and every other layer an exact fp16 cache.
#[derive(Clone, Copy, Debug)]
pub struct Probe {
    pub layout: CacheLayout,
    /// A smooth + Hadamard cache (vecinfer), the method the plan is for.
    pub method: Method,
}

impl Default for Probe {
    fn default() -> Self {
        Self {
            layout: CacheLayout {
                sinks: 4,
                precision: vecinfer_quant::WindowPrecision::Int8,
                ..CacheLayout::default()
            },
            method: Method::Vq(KeyTransform::BOTH),
        }
    }
}

/// Per codebook set, each measured layer with its loss (a fraction) against fp16.
pub type LayerLosses = Vec<Vec<(usize, f64)>>;

/// The perplexity change against fp16 (a fraction) of each of the model's layers but `skip`,
/// quantized alone under each of `sets` (one list per set, in layer order), and the fp16
/// perplexity they are against (measured once). The evaluations run on the CPU, or on `gpu`'s
/// engine (the same model).
pub fn layer_losses(
    (model, gpu): (&Llama, Option<&Engine>),
    windows: &[&[u32]],
    sets: &[&CodebookSet],
    (probe, skip): (Probe, &[usize]),
    bar: &ProgressBar,
) -> Result<(f64, LayerLosses)> {
    let layers: Vec<usize> = (0..model.config().layers)
        .filter(|l| !skip.contains(l))
        .collect();
    bar.set_length(((sets.len() * layers.len() + 1) * windows.len()) as u64);
    let Some(first) = sets.first() else {
        return Err(CliError::Invalid(
            "layer losses of no codebook set: nothing to measure".into(),
        ));
    };
    // The perplexity of fp16 and of each (set, layer) alone.
    let (fp16, alone) = match gpu {
        Some(engine) => {
            let run = |set: &CodebookSet, layer: Option<usize>| -> Result<f64> {
                let ppl = crate::gpu::probe_perplexity(
                    engine,
                    windows,
                    (set, probe.method, probe.layout),
                    layer,
                )?;
                bar.inc(windows.len() as u64);
                Ok(ppl)
            };
            let fp16 = run(first, None)?;
            let alone = sets
                .iter()
                .map(|set| layers.iter().map(|&l| run(set, Some(l))).collect())
                .collect::<Result<Vec<Vec<f64>>>>()?;
            (fp16, alone)
        }
        None => cpu_perplexities(model, windows, sets, (probe, &layers), bar)?,
    };
    let mut out = Vec::with_capacity(sets.len());
    for (set, ppls) in sets.iter().zip(alone) {
        let mut loss = Vec::with_capacity(layers.len());
        for (&layer, ppl) in layers.iter().zip(ppls) {
            loss.push((layer, ppl / fp16 - 1.0));
            // A line a layer: the table the ranking (or the budget) chose from.
            bar.suspend(|| {
                eprintln!(
                    "layer {layer} alone at {}: {:+.3}%",
                    set.meta.pair_label(),
                    100.0 * (ppl / fp16 - 1.0)
                )
            });
        }
        out.push(loss);
    }
    bar.finish_and_clear();
    Ok((fp16, out))
}

/// The perplexity of `windows` with every layer coded by `plan` as the probe's method, or all
/// fp16 (`None`): whole passes on the CPU, or on `gpu`'s engine.
pub fn plan_perplexity(
    (model, gpu): (&Llama, Option<&Engine>),
    windows: &[&[u32]],
    plan: Option<&CodebookPlan>,
    probe: Probe,
) -> Result<f64> {
    let method = if plan.is_some() {
        probe.method
    } else {
        Method::Fp16
    };
    match gpu {
        Some(engine) => {
            let spec = crate::gpu::plan_spec_for(method, plan, probe.layout)?;
            crate::gpu::spec_perplexity(engine, windows, &spec)
        }
        None => {
            let codebooks = plan.map(vecinfer_quant::Codebooks::Plan);
            let options = (None, None, false);
            let bar = ProgressBar::hidden();
            let r = crate::evaluate::evaluate_codebooks(
                model,
                windows,
                method,
                codebooks,
                probe.layout,
                options,
                &bar,
            )?;
            Ok(r.perplexity)
        }
    }
}

/// The CPU side of [`layer_losses`]: the fp16 perplexity, and per set the perplexity with each
/// of `layers` alone coded. Window by window the fp16 pass runs once, and each probe starts
/// from its layer's input: the layers before it are the same fp16 layers, so this is what a
/// whole pass with only that layer coded gives ([`evaluate_codebooks`] with `only_layers`), in
/// about half the layer passes.
fn cpu_perplexities(
    model: &Llama,
    windows: &[&[u32]],
    sets: &[&CodebookSet],
    (probe, layers): (Probe, &[usize]),
    bar: &ProgressBar,
) -> Result<(f64, Vec<Vec<f64>>)> {
    let depth = model.config().layers;
    let (mut fp16_nll, mut count) = (0.0, 0usize);
    let mut nll = vec![vec![0.0; layers.len()]; sets.len()];
    let start = std::time::Instant::now();
    for (w, window) in windows.iter().enumerate() {
        coded_tokens(probe.method, &[window], probe.layout)?;
        let mut exact = QuantizedAttention::new(Method::Fp16, None, probe.layout, false);
        let mut x = model.embed(window)?;
        for layer in 0..depth {
            if let Some(i) = layers.iter().position(|&l| l == layer) {
                for (s, set) in sets.iter().enumerate() {
                    let mut coded =
                        QuantizedAttention::new(probe.method, Some(set), probe.layout, false);
                    coded.only_layers = Some(vec![layer]);
                    let out = model.run_layers(x.clone(), layer..depth, &mut coded)?;
                    nll[s][i] += logits_nll(model, &model.logits(&out)?, window)?.0;
                    bar.inc(1);
                }
            }
            x = model.run_layers(x, layer..layer + 1, &mut exact)?;
        }
        let (n, c) = logits_nll(model, &model.logits(&x)?, window)?;
        fp16_nll += n;
        count += c;
        bar.inc(1);
        // A line a window: every layer's probe of a window finishes together, the ranking
        // takes minutes on a CPU, and a log shows no bar.
        bar.suspend(|| {
            eprintln!(
                "ranking: window {} of {} probed ({:.0} s)",
                w + 1,
                windows.len(),
                start.elapsed().as_secs_f64()
            )
        });
    }
    let ppl = |n: f64| (n / count as f64).exp();
    let alone = nll
        .iter()
        .map(|per| per.iter().map(|&n| ppl(n)).collect())
        .collect();
    Ok((ppl(fp16_nll), alone))
}

/// The model's layers but `skip` (those named by entries: no `top:N` can take them) ranked by
/// the loss each makes alone under `set` ([`layer_losses`]), worst first.
pub fn rank_layers(
    on: (&Llama, Option<&Engine>),
    windows: &[&[u32]],
    set: &CodebookSet,
    probe: (Probe, &[usize]),
    bar: &ProgressBar,
) -> Result<Vec<(usize, f64)>> {
    let mut loss = layer_losses(on, windows, &[set], probe, bar)?.1.remove(0);
    loss.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(loss)
}

/// Each entry's model layers (ascending): named ones as given, `top:N` the next N of `rank`
/// (worst first) not taken by any entry. Every layer at most once, all below `layers`.
pub fn resolve(
    entries: &[LayerCodecs],
    rank: Option<&[usize]>,
    layers: usize,
) -> Result<Vec<Vec<usize>>> {
    let mut taken = vec![false; layers];
    let mut out = vec![Vec::new(); entries.len()];
    for (i, e) in entries.iter().enumerate() {
        if let LayerChoice::Named(named) = &e.layers {
            for &l in named {
                match taken.get_mut(l) {
                    None => {
                        return Err(CliError::BadOption {
                            option: "--layer-codecs",
                            given: layer_list(named),
                            valid: format!("layers 0 to {} (the model's)", layers - 1),
                        });
                    }
                    Some(true) => {
                        return Err(CliError::BadOption {
                            option: "--layer-codecs",
                            given: format!("layer {l} twice"),
                            valid: "name each layer in one entry".into(),
                        });
                    }
                    Some(t) => *t = true,
                }
            }
            out[i] = named.clone();
        }
    }
    for (i, e) in entries.iter().enumerate() {
        if let LayerChoice::Top(n) = e.layers {
            let rank = rank.expect("top:N entries come with a ranking");
            let picked: Vec<usize> = rank
                .iter()
                .copied()
                .filter(|&l| !taken[l])
                .take(n)
                .collect();
            if picked.len() < n {
                return Err(CliError::BadOption {
                    option: "--layer-codecs",
                    given: format!("top:{n}"),
                    valid: format!(
                        "only {} layers are left for it of the model's {layers}: ask for fewer",
                        picked.len()
                    ),
                });
            }
            for &l in &picked {
                taken[l] = true;
            }
            out[i] = picked;
        }
    }
    for layers in &mut out {
        layers.sort_unstable();
    }
    Ok(out)
}

/// Up to `count` windows of `ctx` tokens of the calibration text for the ranking; each must
/// hold tokens past the probe's sinks and int8 window, and fewer than asked is said.
pub fn probe_windows(tokens: &[u32], ctx: usize, count: usize) -> Result<Vec<&[u32]>> {
    let windows = crate::text::windows(tokens, ctx, Some(count))?;
    let kept = Probe::default().layout;
    let shortest = windows.iter().map(|w| w.len()).min().unwrap_or(0);
    if shortest <= kept.sinks + kept.residual {
        return Err(CliError::BadOption {
            option: "--probe-ctx",
            given: format!("{ctx} on a calibration text of {} tokens", tokens.len()),
            valid: format!(
                "windows longer than the ranking's {} sinks + {} window tokens: a longer text or a shorter --probe-ctx",
                kept.sinks, kept.residual
            ),
        });
    }
    if windows.len() < count {
        eprintln!(
            "the calibration text holds {} windows of {ctx} tokens: ranking on those, not {count}",
            windows.len()
        );
    }
    Ok(windows)
}

/// Whether the entries fit a model of `layers` layers (named layers in range and once, enough
/// layers left for every `top:N`), checked once the model is known, before any recording.
pub fn check_fits(entries: &[LayerCodecs], layers: usize) -> Result<()> {
    let any_rank: Vec<usize> = (0..layers).collect();
    resolve(entries, Some(&any_rank), layers).map(|_| ())
}

/// What [`calibrate_plan`] needs besides the recording.
pub struct PlanRequest<'a> {
    /// The base pair's options (every layer not named by an entry).
    pub base: CalibrationOptions,
    pub entries: &'a [LayerCodecs],
    /// The model and the windows to rank layers on (only used with `top:N`); with `gpu`, the
    /// ranking's evaluations run on that engine of the same model.
    pub model: &'a Llama,
    pub gpu: Option<&'a Engine>,
    pub probe_windows: &'a [&'a [u32]],
    pub probe: Probe,
    pub model_id: &'a str,
    pub provenance: String,
}

/// ` --granularity G,...` as `calibrate` takes it, or nothing for the default (one per layer).
pub fn granularity_flag(granularities: &[Granularity]) -> String {
    match granularities {
        [Granularity::Layer] => String::new(),
        _ => format!(
            " --granularity {}",
            granularities
                .iter()
                .map(|g| g.to_string())
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

/// One pair's codebooks trained on the recording with `opts` (the plan's one smooth rule,
/// weight rule and rotation), saying how long it took and `what` they are for.
pub fn train_pair(
    rec: &RecordedKv,
    req: &PlanRequest<'_>,
    opts: CalibrationOptions,
    what: &str,
    bar: &dyn Fn(&str) -> ProgressBar,
) -> Result<CodebookSet> {
    let start = std::time::Instant::now();
    let mut sets = train_codebooks(
        rec,
        &opts,
        req.model_id,
        req.provenance.clone(),
        &bar("k-means"),
    )?;
    eprintln!(
        "K {} / V {} ({what}) trained in {:.1}s",
        opts.key_codec,
        opts.value_codec,
        start.elapsed().as_secs_f64()
    );
    Ok(sets.remove(0))
}

/// Trains the base pair and each entry's pair on the recording (each only on the layers it
/// serves, but the base on all when it ranks the layers), and assembles the plan.
pub fn calibrate_plan(
    rec: &RecordedKv,
    req: PlanRequest<'_>,
    bar: &dyn Fn(&str) -> ProgressBar,
) -> Result<CodebookPlan> {
    let layers = rec.keys.len();
    for (k, v) in std::iter::once((req.base.key_codec, req.base.value_codec))
        .chain(req.entries.iter().map(|e| (e.key, e.value)))
    {
        check_trainable(rec, k, req.base.granularity)?;
        check_trainable(rec, v, req.base.granularity)?;
    }
    let ranks = req
        .entries
        .iter()
        .any(|e| matches!(e.layers, LayerChoice::Top(_)));
    // Named layers are known before any training; ranked ones after the base is trained.
    let named = resolve(
        &req.entries
            .iter()
            .filter(|e| matches!(e.layers, LayerChoice::Named(_)))
            .cloned()
            .collect::<Vec<_>>(),
        None,
        layers,
    )?
    .concat();
    let train = |opts: CalibrationOptions, what: &str| train_pair(rec, &req, opts, what, bar);
    let base_layers: Vec<usize> = (0..layers).filter(|l| !named.contains(l)).collect();
    // Not trained when the entries name every layer (and nothing is ranked).
    let base = (ranks || !base_layers.is_empty())
        .then(|| {
            train(
                CalibrationOptions {
                    layers: (!ranks).then(|| base_layers.clone()),
                    ..req.base.clone()
                },
                if ranks {
                    "all layers, to rank them"
                } else {
                    "base"
                },
            )
        })
        .transpose()?;
    let mut allocation = format!(
        "calibrate --k {} --v {}{}{}",
        req.base.key_codec,
        req.base.value_codec,
        granularity_flag(&[req.base.granularity]),
        req.entries
            .iter()
            .map(|e| format!(" --layer-codecs {}", describe(e)))
            .collect::<String>()
    );
    let rank = if let Some(base) = base.as_ref().filter(|_| ranks) {
        let probe = (req.probe, named.as_slice());
        let on = (req.model, req.gpu);
        let loss = rank_layers(on, req.probe_windows, base, probe, &bar("probe"))?;
        let shown: Vec<String> = loss
            .iter()
            .map(|(l, d)| format!("{l} ({:+.2}%)", 100.0 * d))
            .collect();
        eprintln!("layers by the loss each makes alone: {}", shown.join(", "));
        allocation += &format!(
            "; layers ranked by the perplexity each makes alone at {}/{} ({} windows of {} tokens of the calibration text, {} sinks, {} {} window, on the {}): {}",
            req.base.key_codec,
            req.base.value_codec,
            req.probe_windows.len(),
            req.probe_windows.first().map_or(0, |w| w.len()),
            req.probe.layout.sinks,
            req.probe.layout.residual,
            req.probe.layout.precision,
            if req.gpu.is_some() { "GPU" } else { "CPU" },
            shown.join(", ")
        );
        Some(loss.into_iter().map(|(l, _)| l).collect::<Vec<_>>())
    } else {
        None
    };
    let chosen = resolve(req.entries, rank.as_deref(), layers)?;
    let taken: Vec<usize> = chosen.concat();
    let base_layers: Vec<usize> = (0..layers).filter(|l| !taken.contains(l)).collect();
    let mut parts = Vec::with_capacity(chosen.len() + 1);
    if let Some(base) = base.filter(|_| !base_layers.is_empty()) {
        let set = if ranks {
            base.into_layers(&base_layers)?
        } else {
            base
        };
        parts.push(PlanPart {
            set,
            layers: base_layers,
        });
    }
    for (entry, layers) in req.entries.iter().zip(chosen) {
        let set = train(
            CalibrationOptions {
                key_codec: entry.key,
                value_codec: entry.value,
                layers: Some(layers.clone()),
                ..req.base.clone()
            },
            &format!("layers {}", layer_list(&layers)),
        )?;
        parts.push(PlanPart { set, layers });
    }
    Ok(CodebookPlan::from_parts(parts, allocation)?)
}

/// What `calibrate --layer-codecs` and `--budget` refuse before the model loads: a run writes
/// one plan of one smooth rule, weight rule and rotation, the pairs are its entries or choices
/// (not `--also`), and a ranking (`ranks`: a `top:N` entry or a budget) needs windows (`probe`:
/// count and tokens) that reach past its sinks and window, and on the GPU (`probe`'s flag) the
/// Hadamard, which the kernels apply.
pub fn check_request(
    ranks: bool,
    (pairs, smooth_rules, weight_rules, rotations): (usize, usize, usize, usize),
    (transforms, learned_rotation): (&[KeyTransform], bool),
    out: &str,
    (probe_windows, probe_ctx, on_gpu): (usize, usize, bool),
) -> Result<()> {
    let bad = |option: &'static str, given: String, valid: &str| CliError::BadOption {
        option,
        given,
        valid: valid.to_string(),
    };
    if pairs > 1 {
        return Err(bad(
            "--also",
            "with --layer-codecs".into(),
            "a plan trains the pairs its --layer-codecs entries or --choices name; drop --also",
        ));
    }
    for (option, n) in [
        ("--smooth", smooth_rules),
        ("--weight", weight_rules),
        ("--rotation", rotations),
    ] {
        if n > 1 {
            return Err(bad(
                option,
                format!("{n} values with --layer-codecs"),
                "calibrate writes one plan per run: name one value",
            ));
        }
    }
    if out.contains('{') {
        return Err(bad(
            "--out",
            out.to_string(),
            "a plan (--layer-codecs, --budget) is one file: drop the {…} placeholders",
        ));
    }
    if !ranks {
        return Ok(());
    }
    if !transforms.contains(&KeyTransform::BOTH) {
        return Err(bad(
            "--methods",
            "a ranking (top:N or --budget) without vecinfer".into(),
            "the ranking quantizes with vecinfer (smooth + Hadamard): add vecinfer to --methods, or name the layers",
        ));
    }
    if on_gpu && learned_rotation {
        return Err(bad(
            "--probe-device",
            "cuda with a learned --rotation".into(),
            "the GPU kernels apply the Hadamard only: rank on the CPU (drop --probe-device), or use --rotation hadamard",
        ));
    }
    check_probe(probe_windows, probe_ctx)
}

/// `--probe-windows` and `--probe-ctx` of a ranking or a budget: at least one window, longer
/// than the probe's sinks and int8 window so that codes are read.
pub fn check_probe(probe_windows: usize, probe_ctx: usize) -> Result<()> {
    crate::error::at_least_one(
        "--probe-windows",
        probe_windows,
        "at least 1 window to measure on",
    )?;
    let kept = Probe::default().layout;
    if probe_ctx <= kept.sinks + kept.residual {
        return Err(CliError::BadOption {
            option: "--probe-ctx",
            given: probe_ctx.to_string(),
            valid: format!(
                "more than the probe's {} int8 sinks + {} int8 window tokens, so that a layer's codes are read (e.g. 2048)",
                kept.sinks, kept.residual
            ),
        });
    }
    Ok(())
}

fn describe(e: &LayerCodecs) -> String {
    let layers = match &e.layers {
        LayerChoice::Named(l) => layer_list(l),
        LayerChoice::Top(n) => format!("top:{n}"),
    };
    format!("{layers}={}/{}", e.key, e.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(text: &str) -> LayerCodecs {
        text.parse().unwrap()
    }

    #[test]
    fn entries_parse_and_say_what_is_wrong() {
        let e = entry("17-18,20=d4b12/d4b8");
        assert_eq!(e.layers, LayerChoice::Named(vec![17, 18, 20]));
        assert_eq!(
            (e.key.to_string(), e.value.to_string()),
            ("d4b12".into(), "d4b8".into())
        );
        assert_eq!(entry("top:4=d4b12/d4b10").layers, LayerChoice::Top(4));
        assert_eq!(describe(&entry("top:4=d4b12/d4b10")), "top:4=d4b12/d4b10");
        for bad in [
            "17",
            "17=d4b12",
            "top:0=d4b12/d4b8",
            "top:x=d4b12/d4b8",
            "1,1=d4b12/d4b8",
            "1=d3b12/d4b8",
            "=d4b12/d4b8",
        ] {
            assert!(bad.parse::<LayerCodecs>().is_err(), "{bad}");
        }
        let err = "17".parse::<LayerCodecs>().unwrap_err().to_string();
        assert!(err.contains("top:4=d4b12/d4b10"), "{err}");
    }

    #[test]
    fn the_granularity_flag_is_left_out_only_for_the_default() {
        let (layer, head) = (Granularity::Layer, Granularity::Head);
        assert_eq!(granularity_flag(&[layer]), "");
        assert_eq!(granularity_flag(&[head]), " --granularity head");
        assert_eq!(
            granularity_flag(&[layer, head]),
            " --granularity layer,head"
        );
    }

    #[test]
    fn named_layers_come_first_and_top_takes_the_next_ranked() {
        let entries = [
            entry("top:2=d4b12/d4b10"),
            entry("5=d2b8/d4b8"),
            entry("top:1=d4b12/d4b8"),
        ];
        let rank = [5, 3, 0, 4, 1, 2];
        let got = resolve(&entries, Some(&rank), 6).unwrap();
        assert_eq!(got, vec![vec![0, 3], vec![5], vec![4]]);
        let err = resolve(
            &[entry("top:6=d4b12/d4b10"), entry("1=d2b8/d4b8")],
            Some(&rank),
            6,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("only 5 layers are left"), "{err}");
        let err = resolve(&[entry("6=d2b8/d4b8")], None, 6)
            .unwrap_err()
            .to_string();
        assert!(err.contains("layers 0 to 5"), "{err}");
        let err = resolve(&[entry("1=d2b8/d4b8"), entry("0-1=d4b12/d4b8")], None, 6)
            .unwrap_err()
            .to_string();
        assert!(err.contains("layer 1 twice"), "{err}");
    }
}

/// A small random model and token windows for the CPU tests of the probe and the budget.
#[cfg(test)]
pub(crate) mod tiny {
    use vecinfer_model::{Llama, LlamaConfig};

    /// A 4-layer random model with SmolLM2's head shape, from `seed`; the folder holds its file.
    pub fn four_layer_model(seed: u64) -> (tempfile::TempDir, LlamaConfig, Llama) {
        let dir = tempfile::tempdir().unwrap();
        let config = LlamaConfig {
            layers: 4,
            ..vecinfer_engine::synthetic::tiny_config()
        };
        let path = dir.path().join("tiny.gguf");
        vecinfer_engine::synthetic::write_random_llama(&path, &config, seed, false).unwrap();
        let model = Llama::load(&path).unwrap();
        (dir, config, model)
    }

    /// Two windows of 200 token ids: token i of window w is (a·i + b·w + c) mod 512.
    pub fn two_windows((a, b, c): (u32, u32, u32)) -> Vec<Vec<u32>> {
        (0..2u32)
            .map(|w| (0..200u32).map(|i| (i * a + w * b + c) % 512).collect())
            .collect()
    }
}

#[cfg(test)]
mod probe_tests {
    use super::*;
    use crate::evaluate::evaluate_codebooks;
    use vecinfer_quant::Codebooks;

    /// The CPU probe from shared prefixes gives what a whole pass with only that layer coded
    /// gives, layer by layer and set by set (4-layer random model, 2 windows of 200 tokens).
    #[test]
    fn the_prefix_probe_equals_whole_passes() {
        let (_dir, config, model) = tiny::four_layer_model(11);
        let tokens = tiny::two_windows((37, 101, 5));
        let windows: Vec<&[u32]> = tokens.iter().map(Vec::as_slice).collect();
        let set = |seed, k: &str, v: &str| {
            vecinfer_quant::synthetic::random_codebook_set(
                seed,
                k.parse().unwrap(),
                v.parse().unwrap(),
                vecinfer_quant::Granularity::Layer,
                config.layers,
                config.kv_heads,
                config.head_dim,
            )
        };
        let sets = [set(3, "d4b8", "d8b8"), set(4, "d4b12", "d4b10")];
        let refs: Vec<&CodebookSet> = sets.iter().collect();
        let probe = Probe::default();
        let layers = [0, 2, 3];
        let bar = ProgressBar::hidden();
        let (fp16, alone) =
            cpu_perplexities(&model, &windows, &refs, (probe, &layers), &bar).unwrap();
        let whole = |method, set: &CodebookSet, only: Option<&[usize]>| {
            let options = (None, only, false);
            let codebooks = Some(Codebooks::Set(set));
            evaluate_codebooks(
                &model,
                &windows,
                method,
                codebooks,
                probe.layout,
                options,
                &bar,
            )
            .unwrap()
            .perplexity
        };
        // The NLL sums over positions in parallel, so the last bits may move between runs.
        let same = |a: f64, b: f64| (a / b - 1.0).abs() < 1e-12;
        assert!(same(fp16, whole(Method::Fp16, &sets[0], None)), "fp16");
        for (s, set) in sets.iter().enumerate() {
            for (i, &layer) in layers.iter().enumerate() {
                let want = whole(probe.method, set, Some(&[layer]));
                assert!(
                    same(alone[s][i], want),
                    "set {s} layer {layer}: {} vs {want}",
                    alone[s][i]
                );
                // A coded layer changes the perplexity: the probe is not the fp16 pass.
                assert!(!same(alone[s][i], fp16), "set {s} layer {layer}");
            }
        }
    }
}
