//! Calibration: run the model over text, record post-RoPE K and V (and the per-channel
//! statistics of the queries that the query-aware smooth rule needs, and the attention each token
//! receives when a k-means weight rule needs it), then compute smooth scales and train the K and
//! V codebooks.

use crate::error::{CliError, Result};
use crate::recording::RecordingAttention;
use indicatif::ProgressBar;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use vecinfer_model::{LayerKv, Llama, received_attention};
use vecinfer_quant::kmeans::KMeansConfig;
use vecinfer_quant::method::round_to_f16;
use vecinfer_quant::rotation::{RotationTraining, learn_rotations, rotate};
use vecinfer_quant::{
    CacheSide, Codebook, CodebookMeta, CodebookSet, Granularity, KeyTransform, LayerCodebooks,
    SmoothRule, SmoothStats, TokenStatistics, VqCodec, WeightRule,
};

#[derive(Clone, Debug)]
pub struct CalibrationOptions {
    pub key_codec: VqCodec,
    pub value_codec: VqCodec,
    pub granularity: Granularity,
    /// Key transforms to train key codebooks for (each needs its own: a codebook is trained
    /// on keys after the transform).
    pub transforms: Vec<KeyTransform>,
    /// How λ is chosen; one codebook set per rule (the codebooks that do not depend on λ,
    /// values and keys without smoothing, are trained once and shared).
    pub smooth_rules: Vec<SmoothRule>,
    /// k-means sees at most `max(samples_per_centroid * 2^b, min_samples)` sub-vectors per
    /// layer (split among per-head codebooks), drawn at random from all recorded ones.
    pub samples_per_centroid: usize,
    pub min_samples: usize,
    pub seed: u64,
    /// How k-means weighs the tokens; one codebook set per rule and smooth rule.
    pub weight_rules: Vec<WeightRule>,
    /// Positions at the start of each calibration window that a weight rule gives the median
    /// weight instead of their own: the evaluation keeps them in fp16 (`--sinks 4`), and as
    /// attention sinks their mass would dominate the weights.
    pub weight_sinks: usize,
    /// At most this many Lloyd iterations per codebook (30, the paper's).
    pub kmeans_iters: usize,
    /// The rotations of `smooth_hadamard` keys, one codebook set each: 0 keeps the Hadamard,
    /// N learns a rotation in its place by N k-means / Procrustes alternations
    /// ([`vecinfer_quant::rotation`]).
    pub rotations: Vec<usize>,
    /// Train only these model layers (ascending; `None`: all). The sets hold them in this
    /// order, as [`CodebookSet::into_layers`] would cut them from a whole-model set: k-means
    /// is seeded by the model layer, so the codebooks are the same.
    pub layers: Option<Vec<usize>>,
}

impl CalibrationOptions {
    pub fn new(key_codec: VqCodec, value_codec: VqCodec) -> Self {
        Self {
            key_codec,
            value_codec,
            granularity: Granularity::Layer,
            transforms: KeyTransform::ALL.to_vec(),
            smooth_rules: vec![SmoothRule::MAX],
            samples_per_centroid: 32,
            min_samples: 65_536,
            seed: 0,
            weight_rules: vec![WeightRule::NONE],
            weight_sinks: 4,
            kmeans_iters: 30,
            rotations: vec![0],
            layers: None,
        }
    }

    /// Sub-vectors one codebook's k-means sees. Per-head codebooks share the per-layer budget
    /// (same k-means work per layer for both granularities), but never fall below 8 per centroid.
    fn max_samples(&self, codec: VqCodec, codebooks_per_layer: usize) -> usize {
        let per_layer = (self.samples_per_centroid * codec.codebook_size()).max(self.min_samples);
        (per_layer / codebooks_per_layer).max(8 * codec.codebook_size())
    }
}

/// Post-RoPE K and V recorded over calibration text, fp16-rounded as the cache holds them.
pub struct RecordedKv {
    pub head_dim: usize,
    pub kv_heads: usize,
    pub tokens: usize,
    /// `[layer][kv_head]` -> row-major `[tokens, head_dim]`
    pub keys: Vec<Vec<Vec<f32>>>,
    pub values: Vec<Vec<Vec<f32>>>,
    /// `[layer][kv_head]`: key maxima and the second moments of the group's queries.
    pub stats: Vec<Vec<SmoothStats>>,
    /// Each recorded token's position in its window.
    pub positions: Vec<u32>,
    /// Per query distance asked for (see [`record_kv_with_attention`]), `[layer][kv_head]`.
    pub attention: BTreeMap<usize, Vec<Vec<ReceivedStats>>>,
}

/// What each recorded token of one (layer, KV head) receives from the attention of later
/// queries (see [`vecinfer_model::ReceivedAttention`]), in recording order.
#[derive(Clone, Default)]
pub struct ReceivedStats {
    pub mass: Vec<f32>,
    pub squared: Vec<f32>,
    pub key_fisher: Vec<f32>,
}

pub fn record_kv(model: &Llama, windows: &[&[u32]], bar: &ProgressBar) -> Result<RecordedKv> {
    record_kv_with_attention(model, windows, &[], bar)
}

/// [`record_kv`], plus the attention each token receives from the queries at least `d`
/// positions after it, for each `d` in `distances` (what the k-means weight rules use).
pub fn record_kv_with_attention(
    model: &Llama,
    windows: &[&[u32]],
    distances: &[usize],
    bar: &ProgressBar,
) -> Result<RecordedKv> {
    let c = model.config();
    let mut rec = RecordedKv {
        head_dim: c.head_dim,
        kv_heads: c.kv_heads,
        tokens: 0,
        keys: vec![vec![Vec::new(); c.kv_heads]; c.layers],
        values: vec![vec![Vec::new(); c.kv_heads]; c.layers],
        stats: vec![vec![SmoothStats::new(c.head_dim); c.kv_heads]; c.layers],
        positions: Vec::new(),
        attention: distances
            .iter()
            .map(|&d| {
                (
                    d,
                    vec![vec![ReceivedStats::default(); c.kv_heads]; c.layers],
                )
            })
            .collect(),
    };
    let mut failure = None;
    bar.set_length(windows.len() as u64);
    for window in windows {
        let mut backend = RecordingAttention {
            on_layer: |layer: usize,
                       q: &[f32],
                       k: &[f32],
                       v: &[f32],
                       shape: vecinfer_model::HeadShape| {
                let per_head = shape.tokens * shape.head_dim;
                let group = shape.q_heads / shape.kv_heads;
                for qh in 0..shape.q_heads {
                    rec.stats[layer][qh / group]
                        .add_queries(&q[qh * per_head..(qh + 1) * per_head]);
                }
                for h in 0..shape.kv_heads {
                    rec.keys[layer][h].extend_from_slice(&k[h * per_head..(h + 1) * per_head]);
                    rec.values[layer][h].extend_from_slice(&v[h * per_head..(h + 1) * per_head]);
                }
                for (&distance, heads) in rec.attention.iter_mut() {
                    let kv = LayerKv { keys: k, values: v };
                    match received_attention(q, kv, shape, distance) {
                        Ok(got) => {
                            for (h, stats) in heads[layer].iter_mut().enumerate() {
                                let of = |x: &[f32]| {
                                    x[h * shape.tokens..(h + 1) * shape.tokens].to_vec()
                                };
                                stats.mass.extend(of(&got.mass));
                                stats.squared.extend(of(&got.squared));
                                stats.key_fisher.extend(of(&got.key_fisher));
                            }
                        }
                        Err(e) => failure = Some(e),
                    }
                }
            },
        };
        model.forward(window, &mut backend)?;
        if let Some(e) = failure.take() {
            return Err(e.into());
        }
        rec.tokens += window.len();
        rec.positions.extend(0..window.len() as u32);
        bar.inc(1);
    }
    for rows in rec.keys.iter_mut().chain(rec.values.iter_mut()).flatten() {
        round_to_f16(rows);
    }
    // Key maxima as the cache holds the keys (fp16-rounded), as before the rules existed.
    for (stats, keys) in rec
        .stats
        .iter_mut()
        .flatten()
        .zip(rec.keys.iter().flatten())
    {
        stats.add_keys(keys);
    }
    Ok(rec)
}

/// For each weight rule and smooth rule: smooth scales, one key codebook set per requested
/// transform, and the value codebooks. Values and the transforms without smoothing do not depend
/// on λ: they are trained once per weight rule and shared by every smooth rule's set.
pub fn train_codebooks(
    rec: &RecordedKv,
    opts: &CalibrationOptions,
    model_id: &str,
    provenance: String,
    bar: &ProgressBar,
) -> Result<Vec<CodebookSet>> {
    if opts.transforms.is_empty() {
        return Err(CliError::Invalid(
            "no key transform to calibrate: name at least one method that uses codebooks".into(),
        ));
    }
    if opts.smooth_rules.is_empty() {
        return Err(CliError::Invalid(
            "no smooth rule to calibrate: name at least one (max, query, mix:A:B)".into(),
        ));
    }
    if opts.weight_rules.is_empty() {
        return Err(CliError::Invalid(
            "no weight rule to calibrate: name at least one (none, attention, fisher)".into(),
        ));
    }
    let layers = rec.keys.len();
    let chosen: Vec<usize> = opts.layers.clone().unwrap_or_else(|| (0..layers).collect());
    if chosen.is_empty() || !chosen.is_sorted_by(|a, b| a < b) || chosen[chosen.len() - 1] >= layers
    {
        return Err(CliError::Invalid(format!(
            "layers to calibrate {chosen:?}: name at least one, ascending, each below the model's {layers}"
        )));
    }
    let d = rec.head_dim;
    let groups = opts.granularity.codebooks_per_layer(rec.kv_heads);
    let smoothed = opts.transforms.iter().filter(|t| t.smooth).count();
    let shared = opts.transforms.len() - smoothed + 1;
    let rotated = if opts.transforms.contains(&KeyTransform::BOTH) {
        opts.rotations.len().saturating_sub(1)
    } else {
        0
    };
    bar.set_length(
        ((shared + (smoothed + rotated) * opts.smooth_rules.len())
            * chosen.len()
            * groups
            * opts.weight_rules.len()) as u64,
    );
    let smooth_scales = |rule: SmoothRule| -> Result<Vec<Vec<f32>>> {
        Ok(rec
            .stats
            .iter()
            .map(|heads| {
                heads
                    .iter()
                    .map(|s| s.scales(rule))
                    .collect::<vecinfer_quant::Result<Vec<_>>>()
                    .map(|v| v.concat())
            })
            .collect::<vecinfer_quant::Result<_>>()?)
    };

    let mut sets = Vec::with_capacity(opts.weight_rules.len() * opts.smooth_rules.len());
    for &weight_rule in &opts.weight_rules {
        // `[layer][kv_head][token]` k-means weights of keys and values (None: unweighted).
        let weights_of = |side: CacheSide| -> Result<Option<Vec<Vec<Vec<f32>>>>> {
            if weight_rule.is_none() {
                return Ok(None);
            }
            let received = rec.attention.get(&weight_rule.min_distance).ok_or_else(|| {
                CliError::Invalid(format!(
                    "weight rule {weight_rule} needs the attention from queries at distance ≥ {}, which was not recorded",
                    weight_rule.min_distance
                ))
            })?;
            let mut per_layer = Vec::with_capacity(layers);
            for heads in received {
                let stats: Vec<TokenStatistics> = heads
                    .iter()
                    .map(|h| TokenStatistics {
                        mass: &h.mass,
                        squared: &h.squared,
                        key_fisher: &h.key_fisher,
                    })
                    .collect();
                let w =
                    weight_rule.layer_weights(&stats, side, &rec.positions, opts.weight_sinks)?;
                per_layer.push(w.expect("a weight rule other than none gives weights"));
            }
            eprintln!("{}", describe_weights(weight_rule, side, &per_layer));
            Ok(Some(per_layer))
        };
        let key_weights = weights_of(CacheSide::Keys)?;
        let value_weights = weights_of(CacheSide::Values)?;

        // One layer's codebooks of `codec` on `heads` (`[kv_head]` rows), weighted by
        // `weights` (`[layer][kv_head][token]`) if given; `kind` seeds k-means.
        let train_layer = |codec: VqCodec,
                           layer: usize,
                           heads: &[Vec<f32>],
                           weights: Option<&Vec<Vec<Vec<f32>>>>,
                           kind: &str|
         -> Result<LayerCodebooks> {
            let books = (0..groups)
                .map(|g| {
                    let cb = train_one(
                        codec,
                        &head_rows(heads, g, opts.granularity),
                        weights
                            .map(|w| head_rows(&w[layer], g, opts.granularity))
                            .as_deref(),
                        d,
                        opts.max_samples(codec, groups),
                        &KMeansConfig {
                            max_iters: opts.kmeans_iters,
                            ..KMeansConfig::new(
                                codec.codebook_size(),
                                opts.seed ^ hash_seed(layer, g, kind),
                            )
                        },
                    );
                    bar.inc(1);
                    cb
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(LayerCodebooks::new(books)?)
        };
        let values = chosen
            .iter()
            .map(|&layer| {
                let weights = value_weights.as_ref();
                train_layer(
                    opts.value_codec,
                    layer,
                    &rec.values[layer],
                    weights,
                    "values",
                )
            })
            .collect::<Result<Vec<_>>>()?;

        // Key codebooks of one transform under scales `smooth` (and, for smooth_hadamard, the
        // learned rotations in place of the Hadamard, `[layer][kv_head * d * d]`).
        let train_keys = |transform: KeyTransform,
                          smooth: &[Vec<f32>],
                          rotation: Option<&[Vec<f32>]>|
         -> Result<Vec<LayerCodebooks>> {
            chosen
                .iter()
                .map(|&layer| {
                    let rotation = rotation.map(|r| r[layer].as_slice());
                    let transformed =
                        transformed_keys(rec, layer, transform, &smooth[layer], rotation)?;
                    let weights = key_weights.as_ref();
                    train_layer(
                        opts.key_codec,
                        layer,
                        &transformed,
                        weights,
                        transform.name(),
                    )
                })
                .collect()
        };

        // λ is unused by these; any rule's scales would do (the first rule's are stored).
        let mut unsmoothed = BTreeMap::new();
        let identity = vec![vec![1.0f32; rec.kv_heads * d]; layers];
        for &transform in opts.transforms.iter().filter(|t| !t.smooth) {
            unsmoothed.insert(transform.name(), train_keys(transform, &identity, None)?);
        }

        for &rule in &opts.smooth_rules {
            let smooth = smooth_scales(rule)?;
            // The keys of every transform but smooth_hadamard do not depend on the rotation.
            let mut common = BTreeMap::new();
            for &transform in opts.transforms.iter().filter(|&&t| t != KeyTransform::BOTH) {
                let books = if transform.smooth {
                    train_keys(transform, &smooth, None)?
                } else {
                    copy_layers(&unsmoothed[transform.name()])?
                };
                common.insert(transform.name(), books);
            }
            for &alternations in &opts.rotations {
                let rotation = (alternations > 0)
                    .then(|| learn_layer_rotations(rec, opts, &smooth, alternations))
                    .transpose()?;
                let mut keys = BTreeMap::new();
                for (name, books) in &common {
                    keys.insert(*name, copy_layers(books)?);
                }
                if opts.transforms.contains(&KeyTransform::BOTH) {
                    let books = train_keys(KeyTransform::BOTH, &smooth, rotation.as_deref())?;
                    keys.insert(KeyTransform::BOTH.name(), books);
                }
                let mut weighted = if weight_rule.is_none() {
                    String::new()
                } else {
                    format!(" weight={weight_rule} weight_sinks={}", opts.weight_sinks)
                };
                if alternations > 0 {
                    weighted += &format!(" rotation=learned:{alternations}");
                }
                sets.push(CodebookSet {
                    meta: CodebookMeta {
                        key_codec: opts.key_codec,
                        value_codec: opts.value_codec,
                        granularity: opts.granularity,
                        head_dim: d,
                        layers: chosen.len(),
                        kv_heads: rec.kv_heads,
                        model_id: model_id.to_string(),
                        calibration: format!("{provenance} smooth={rule}{weighted}"),
                        smooth_rule: rule,
                        weight_rule,
                        rotation_alternations: alternations,
                    },
                    smooth: chosen.iter().map(|&l| smooth[l].clone()).collect(),
                    keys,
                    values: copy_layers(&values)?,
                    rotation: rotation.map(|r| chosen.iter().map(|&l| r[l].clone()).collect()),
                });
            }
        }
    }
    Ok(sets)
}

/// One layer's recorded keys (`[kv_head]` rows) under `transform` with the layer's scales
/// `smooth` (`[kv_head * d]`), or smoothed and rotated by `rotation` (`[kv_head * d * d]`).
fn transformed_keys(
    rec: &RecordedKv,
    layer: usize,
    transform: KeyTransform,
    smooth: &[f32],
    rotation: Option<&[f32]>,
) -> Result<Vec<Vec<f32>>> {
    let d = rec.head_dim;
    let keys = rec.keys[layer].iter().enumerate().map(|(h, rows)| {
        let mut rows = rows.clone();
        let scales = &smooth[h * d..(h + 1) * d];
        for row in rows.chunks_exact_mut(d) {
            match rotation {
                None => transform.apply_to_key(row, scales)?,
                Some(r) => {
                    KeyTransform::SMOOTH.apply_to_key(row, scales)?;
                    rotate(&r[h * d * d..(h + 1) * d * d], row)?;
                }
            }
        }
        Ok(rows)
    });
    Ok(keys.collect::<vecinfer_quant::Result<_>>()?)
}

/// Per layer, the learned rotation of each KV head (`[kv_head * d * d]`) for keys smoothed by
/// `smooth`, trained unweighted on the heads that share a codebook; prints each layer's
/// quantization error under the Hadamard and under the learned rotation.
fn learn_layer_rotations(
    rec: &RecordedKv,
    opts: &CalibrationOptions,
    smooth: &[Vec<f32>],
    alternations: usize,
) -> Result<Vec<Vec<f32>>> {
    if !opts.transforms.contains(&KeyTransform::BOTH) {
        return Err(CliError::Invalid(
            "a learned rotation replaces the Hadamard of vecinfer (smooth + Hadamard): add vecinfer to --methods".into(),
        ));
    }
    let d = rec.head_dim;
    let groups = opts.granularity.codebooks_per_layer(rec.kv_heads);
    let heads_per_group = rec.kv_heads / groups;
    let codes = opts.key_codec.codes_per_vector(d)?;
    let rows_per_head = opts.max_samples(opts.key_codec, groups) / codes / heads_per_group;
    let bar = ProgressBar::new(rec.keys.len() as u64);
    let mut per_layer = Vec::with_capacity(rec.keys.len());
    let (mut before, mut after) = (0f64, 0f64);
    for (layer, scales) in smooth.iter().enumerate() {
        let smoothed = transformed_keys(rec, layer, KeyTransform::SMOOTH, scales, None)?;
        let mut layer_rotations = Vec::with_capacity(rec.kv_heads * d * d);
        for g in 0..groups {
            let training = RotationTraining {
                alternations,
                // Twice the codebook's sample: the fit has d² parameters per head.
                rows_per_head: 2 * rows_per_head.max(1),
                kmeans_iters: opts.kmeans_iters.min(10),
                seed: opts.seed ^ hash_seed(layer, g, "rotation"),
            };
            let rows = head_rows(&smoothed, g, opts.granularity);
            let (rotations, errors) = learn_rotations(&rows, d, opts.key_codec, &training)?;
            before += errors[0];
            after += errors[errors.len() - 1];
            layer_rotations.extend(rotations.concat());
        }
        per_layer.push(layer_rotations);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let n = (rec.keys.len() * groups) as f64;
    eprintln!(
        "learned rotation ({alternations} alternations): key MSE per element {:.5} (Hadamard) -> {:.5}, mean over {} codebooks",
        before / n,
        after / n,
        n
    );
    Ok(per_layer)
}

/// One line on how concentrated a rule's weights are (averaged over layers): the largest
/// weight and the 99th percentile (the mean is 1), and the share of the total weight held by
/// the top 1% of tokens and by the sinks' positions.
fn describe_weights(rule: WeightRule, side: CacheSide, per_layer: &[Vec<Vec<f32>>]) -> String {
    let (mut max, mut p99, mut top1) = (0f64, 0f64, 0f64);
    for layer in per_layer {
        let mut all: Vec<f32> = layer.concat();
        let total: f64 = all.iter().map(|&w| w as f64).sum();
        all.sort_unstable_by(|a, b| b.total_cmp(a));
        max += all[0] as f64;
        p99 += all[all.len() / 100] as f64;
        top1 += all[..all.len() / 100]
            .iter()
            .map(|&w| w as f64)
            .sum::<f64>()
            / total;
    }
    let n = per_layer.len().max(1) as f64;
    format!(
        "weight {rule} ({side:?}): per layer (mean 1) max {:.1}, 99th percentile {:.2}, top 1% of tokens hold {:.1}% of the weight",
        max / n,
        p99 / n,
        100.0 * top1 / n
    )
}

fn copy_layers(layers: &[LayerCodebooks]) -> Result<Vec<LayerCodebooks>> {
    layers
        .iter()
        .map(|l| {
            let books = l
                .all()
                .iter()
                .map(|cb| Codebook::new(cb.codec(), cb.centroids()))
                .collect::<vecinfer_quant::Result<Vec<_>>>()?;
            Ok(LayerCodebooks::new(books)?)
        })
        .collect()
}

/// The rows a codebook of group `g` trains on: all heads for per-layer codebooks.
fn head_rows(heads: &[Vec<f32>], g: usize, granularity: Granularity) -> Vec<&[f32]> {
    match granularity {
        Granularity::Layer => heads.iter().map(Vec::as_slice).collect(),
        Granularity::Head => vec![heads[g].as_slice()],
    }
}

/// Draws up to `max_samples` sub-vectors from `sources` at random and runs k-means on them,
/// weighted by their token's weight (`weights`, one per `head_dim` row of each source) if given;
/// a drawn sub-vector of weight 0 (a token no counted query reads) is left out.
/// Whether the recording holds enough sub-vectors to train a `codec` codebook at
/// `granularity` (what `train_one` refuses), checked before a long run starts.
pub fn check_trainable(rec: &RecordedKv, codec: VqCodec, granularity: Granularity) -> Result<()> {
    let groups = granularity.codebooks_per_layer(rec.kv_heads);
    let per_book = rec.tokens * (rec.head_dim / codec.sub_dim()) * (rec.kv_heads / groups.max(1));
    enough_to_train(per_book, codec)
}

/// k-means needs at least one sub-vector per centroid.
fn enough_to_train(available: usize, codec: VqCodec) -> Result<()> {
    if available < codec.codebook_size() {
        return Err(CliError::Invalid(format!(
            "{available} calibration sub-vectors cannot train a {codec} codebook of {} centroids: give more calibration text (--max-tokens)",
            codec.codebook_size()
        )));
    }
    Ok(())
}

fn train_one(
    codec: VqCodec,
    sources: &[&[f32]],
    weights: Option<&[&[f32]]>,
    head_dim: usize,
    max_samples: usize,
    kmeans: &KMeansConfig,
) -> Result<Codebook> {
    let sub = codec.sub_dim();
    let available: usize = sources.iter().map(|s| s.len() / sub).sum();
    enough_to_train(available, codec)?;
    let take = available.min(max_samples);
    let mut rng = ChaCha8Rng::seed_from_u64(kmeans.seed);
    let mut picks = rand::seq::index::sample(&mut rng, available, take).into_vec();
    picks.sort_unstable();
    let mut points = Vec::with_capacity(take * sub);
    let mut point_weights = Vec::with_capacity(if weights.is_some() { take } else { 0 });
    let (mut source, mut offset) = (0usize, 0usize);
    for p in picks {
        while p - offset >= sources[source].len() / sub {
            offset += sources[source].len() / sub;
            source += 1;
        }
        let i = p - offset;
        if let Some(weights) = weights {
            let w = weights[source][i * sub / head_dim];
            if w == 0.0 {
                continue;
            }
            point_weights.push(w);
        }
        points.extend_from_slice(&sources[source][i * sub..(i + 1) * sub]);
    }
    let weights = weights.map(|_| point_weights.as_slice());
    Ok(Codebook::train_with(codec, &points, weights, kmeans)?)
}

fn hash_seed(layer: usize, group: usize, kind: &str) -> u64 {
    // FNV-1a: stable across runs and platforms, unlike std's hasher.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in kind
        .bytes()
        .chain((layer as u64).to_le_bytes())
        .chain((group as u64).to_le_bytes())
    {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}
