//! Which codebooks serve each layer: one calibrated set for every layer, or a layer-wise bit
//! allocation, where named layers take their codebooks (and smooth scales) from other sets.
//!
//! Layers differ a lot in how much their cache error costs: on SmolLM2 at 2 bits, four of 30
//! layers make 70% of the perplexity loss when each is quantized alone
//! (bench/results/model-s24). So spending more bits there and fewer elsewhere buys accuracy
//! at the same average. Each part of a plan is a set cut down to its layers: a cache of its
//! own serves it on the GPU, with its own kernels.

use crate::anchors::AnchorBudget;
use crate::codebook_file::{CodebookMeta, CodebookSet};
use crate::error::{QuantError, Result};
use crate::method::{CacheLayout, EffectiveBits, Method};
use crate::transform::KeyTransform;

/// A set cut down to some of the model's layers, and which ones (ascending).
#[derive(Debug)]
pub struct PlanPart {
    pub set: CodebookSet,
    pub layers: Vec<usize>,
}

#[derive(Debug)]
pub struct CodebookPlan {
    parts: Vec<PlanPart>,
    /// Per model layer: its part, and its index in that part's set.
    of_layer: Vec<(usize, usize)>,
    /// The model's layer count.
    layers: usize,
    /// The base set's metadata, for the whole model (its layer count is the model's).
    meta: CodebookMeta,
    /// How the layers were chosen, for the reader (kept in a plan file).
    allocation: String,
}

impl CodebookPlan {
    /// One set for every layer.
    pub fn uniform(set: CodebookSet) -> Self {
        let layers = set.meta.layers;
        Self {
            meta: set.meta.clone(),
            parts: vec![PlanPart {
                set,
                layers: (0..layers).collect(),
            }],
            of_layer: (0..layers).map(|l| (0, l)).collect(),
            layers,
            allocation: "one set for every layer".into(),
        }
    }

    /// A plan from parts that each name their model layers (ascending), together every layer
    /// of the model once; the first part's metadata stands for the model (as the base set's
    /// does in [`Self::layered`]). What a plan file holds. Parts may differ in codecs,
    /// granularity and calibration rules (each is a cache of its own), not in model.
    pub fn from_parts(parts: Vec<PlanPart>, allocation: String) -> Result<Self> {
        let Some(first) = parts.first() else {
            return Err(QuantError::InvalidArgument("a plan of no parts".into()));
        };
        let layers: usize = parts.iter().map(|p| p.layers.len()).sum();
        let mut meta = first.set.meta.clone();
        meta.layers = layers;
        let mut of_layer: Vec<Option<(usize, usize)>> = vec![None; layers];
        for (i, part) in parts.iter().enumerate() {
            let m = &part.set.meta;
            if (m.kv_heads, m.head_dim) != (meta.kv_heads, meta.head_dim) {
                return Err(QuantError::InvalidArgument(format!(
                    "part {i} is for {} KV heads × dim {} of model {:?}, part 0 for {} × {} of {:?}: every part must have the same KV heads and head dim",
                    m.kv_heads, m.head_dim, m.model_id, meta.kv_heads, meta.head_dim, meta.model_id
                )));
            }
            if part.set.meta.layers != part.layers.len() {
                return Err(QuantError::InvalidArgument(format!(
                    "part {i} names {} layers but its codebooks hold {}",
                    part.layers.len(),
                    part.set.meta.layers
                )));
            }
            if !part.layers.is_sorted() {
                return Err(QuantError::InvalidArgument(format!(
                    "part {i}'s layers {:?} are not ascending",
                    part.layers
                )));
            }
            for (local, &layer) in part.layers.iter().enumerate() {
                match of_layer.get_mut(layer) {
                    Some(slot @ None) => *slot = Some((i, local)),
                    Some(Some((before, _))) => {
                        return Err(QuantError::InvalidArgument(format!(
                            "layer {layer} is in parts {before} and {i}: each layer belongs to one part"
                        )));
                    }
                    None => {
                        return Err(QuantError::InvalidArgument(format!(
                            "part {i} names layer {layer}, but the parts hold {layers} layers in all: each of 0 to {} once",
                            layers - 1
                        )));
                    }
                }
            }
        }
        let of_layer = of_layer
            .into_iter()
            .map(|o| o.expect("every layer is named once: the counts add up and none is named twice or out of range"))
            .collect();
        Ok(Self {
            parts,
            of_layer,
            layers,
            meta,
            allocation,
        })
    }

    /// The model names the parts were calibrated under, each once, in part order. The name is
    /// the model file's stem, so a renamed copy of one model gives two: parts may differ in
    /// it (their shapes may not), and a caller should warn when there are several.
    pub fn model_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = Vec::new();
        for part in &self.parts {
            let id = part.set.meta.model_id.as_str();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }

    /// The one set of a uniform plan (whole, every layer in order); `None` for a layered plan.
    pub fn into_uniform(mut self) -> Option<CodebookSet> {
        self.is_uniform().then(|| self.parts.remove(0).set)
    }

    /// How the layers were chosen (free text, kept in a plan file).
    pub fn allocation(&self) -> &str {
        &self.allocation
    }

    pub fn with_allocation(self, allocation: String) -> Self {
        Self { allocation, ..self }
    }

    /// `base` serves every layer that no override names; each override's set serves the
    /// layers listed with it. Every set must be for the same model shape (layers, KV heads,
    /// head dim; see [`Self::model_ids`] for their names), and a layer may be named once.
    pub fn layered(base: CodebookSet, overrides: Vec<(CodebookSet, Vec<usize>)>) -> Result<Self> {
        let layers = base.meta.layers;
        let meta = base.meta.clone();
        let mut owner: Vec<Option<usize>> = vec![None; layers];
        for (i, (set, named)) in overrides.iter().enumerate() {
            check_same_model(i, &base.meta, &set.meta)?;
            if named.is_empty() {
                return Err(QuantError::InvalidArgument(format!(
                    "layer codebooks #{} name no layers: give layers as 17,18 or 16-19",
                    i + 1
                )));
            }
            for &layer in named {
                if layer >= layers {
                    return Err(QuantError::InvalidArgument(format!(
                        "layer {layer} out of range: the model has layers 0 to {}",
                        layers - 1
                    )));
                }
                if let Some(before) = owner[layer] {
                    return Err(QuantError::InvalidArgument(format!(
                        "layer {layer} is named by layer codebooks #{} and #{}: name each layer once",
                        before + 1,
                        i + 1
                    )));
                }
                owner[layer] = Some(i);
            }
        }
        let base_layers: Vec<usize> = (0..layers).filter(|&l| owner[l].is_none()).collect();
        let mut sources = Vec::with_capacity(overrides.len() + 1);
        sources.push((base, base_layers));
        for (set, _) in overrides {
            sources.push((set, Vec::new()));
        }
        for (layer, o) in owner.iter().enumerate() {
            if let Some(i) = o {
                sources[i + 1].1.push(layer);
            }
        }
        let mut parts = Vec::with_capacity(sources.len());
        let mut of_layer = vec![(0, 0); layers];
        for (set, named) in sources.into_iter().filter(|(_, l)| !l.is_empty()) {
            for (local, &layer) in named.iter().enumerate() {
                of_layer[layer] = (parts.len(), local);
            }
            parts.push(PlanPart {
                set: set.into_layers(&named)?,
                layers: named,
            });
        }
        Ok(Self {
            parts,
            of_layer,
            layers,
            meta,
            allocation: "layers named by hand".into(),
        })
    }

    pub fn layers(&self) -> usize {
        self.layers
    }

    /// The parts, each with its layers; one part for a uniform plan.
    pub fn parts(&self) -> &[PlanPart] {
        &self.parts
    }

    pub fn is_uniform(&self) -> bool {
        self.parts.len() == 1
    }

    /// The base set's metadata: the model's shapes and id, which every part shares (codecs and
    /// calibration may differ between parts; see [`Self::parts`]).
    pub fn meta(&self) -> &CodebookMeta {
        &self.meta
    }

    /// `layer`'s part (an index into [`Self::parts`]) and the layer's index in that part.
    pub fn part_of(&self, layer: usize) -> Result<(usize, usize)> {
        self.of_layer.get(layer).copied().ok_or_else(|| {
            QuantError::InvalidArgument(format!(
                "layer {layer} out of range: the codebooks cover {} layers",
                self.layers
            ))
        })
    }

    /// The set serving `layer`, and the layer's index in it.
    pub fn set_for(&self, layer: usize) -> Result<(&CodebookSet, usize)> {
        let (part, local) = self.part_of(layer)?;
        Ok((&self.parts[part].set, local))
    }

    /// The key transforms every part calibrated.
    pub fn transforms(&self) -> Vec<KeyTransform> {
        KeyTransform::ALL
            .into_iter()
            .filter(|t| self.parts.iter().all(|p| p.set.keys.contains_key(t.name())))
            .collect()
    }

    /// The mean over layers of `f(part's set)`.
    fn layer_mean(&self, f: impl Fn(&CodebookSet) -> f64) -> f64 {
        let sum: f64 = self
            .parts
            .iter()
            .map(|p| f(&p.set) * p.layers.len() as f64)
            .sum();
        sum / self.layers as f64
    }

    /// Code bits per element of K and V, the mean over layers.
    pub fn bits_per_element(&self, method: Method) -> (f64, f64) {
        (
            self.layer_mean(|s| method.bits_per_element(Some(s)).0),
            self.layer_mean(|s| method.bits_per_element(Some(s)).1),
        )
    }

    /// `d4b9/d8b10`, or for a layered plan each part's codecs and layers, e.g.
    /// `d4b9/d8b10 + d4b12/d4b8 per head (layers 17,18,20,23)` ([`CodebookMeta::pair_label`]).
    pub fn label(&self) -> String {
        let codecs = |s: &CodebookSet| s.meta.pair_label();
        if self.is_uniform() {
            return codecs(&self.parts[0].set);
        }
        self.parts
            .iter()
            .map(|p| format!("{} (layers {})", codecs(&p.set), layer_list(&p.layers)))
            .collect::<Vec<_>>()
            .join(" + ")
    }
}

/// Codebooks as a method reads them: one set for every layer, or a plan.
#[derive(Clone, Copy, Debug)]
pub enum Codebooks<'a> {
    Set(&'a CodebookSet),
    Plan(&'a CodebookPlan),
}

impl<'a> From<&'a CodebookSet> for Codebooks<'a> {
    fn from(set: &'a CodebookSet) -> Self {
        Codebooks::Set(set)
    }
}

impl<'a> From<&'a CodebookPlan> for Codebooks<'a> {
    fn from(plan: &'a CodebookPlan) -> Self {
        Codebooks::Plan(plan)
    }
}

impl<'a> Codebooks<'a> {
    /// Code bits of K and V, and [`Method::effective_bits`], as the means over the model's
    /// `layers`, each layer with its own set's codecs; with `only`, the layers not listed hold
    /// an exact fp16 cache (16 bits, no codebooks).
    pub fn layer_bits(
        self,
        method: Method,
        (layout, ctx, anchors): (CacheLayout, usize, Option<AnchorBudget>),
        layers: usize,
        only: Option<&[usize]>,
    ) -> Result<((f64, f64), EffectiveBits)> {
        if layers == 0 {
            return Err(QuantError::InvalidArgument("a model of 0 layers".into()));
        }
        let mut code = (0.0, 0.0);
        let mut per_layer = Vec::with_capacity(layers);
        for layer in 0..layers {
            let (set, _) = self.set_for(layer)?;
            let bits = method.effective_bits(Some(set), layout, ctx, anchors);
            let (k, v) = if only.is_none_or(|o| o.contains(&layer)) {
                per_layer.push(bits);
                method.bits_per_element(Some(set))
            } else {
                per_layer.push(fp16_bits(bits));
                (16.0, 16.0)
            };
            code = (code.0 + k / layers as f64, code.1 + v / layers as f64);
        }
        Ok((code, mean_bits(&per_layer)))
    }

    /// The set serving `layer`, and the layer's index in it.
    pub fn set_for(self, layer: usize) -> Result<(&'a CodebookSet, usize)> {
        match self {
            Codebooks::Set(set) => Ok((set, layer)),
            Codebooks::Plan(plan) => plan.set_for(layer),
        }
    }
}

/// What a layer held as an exact fp16 cache costs, in `bits`' token counts.
fn fp16_bits(bits: EffectiveBits) -> EffectiveBits {
    EffectiveBits {
        key_bits: 16.0,
        value_bits: 16.0,
        bits: 16.0,
        codebook_bits_batch1: 0.0,
        ..bits
    }
}

/// The mean of per-layer bits (token counts from the first; at least one layer).
fn mean_bits(per_layer: &[EffectiveBits]) -> EffectiveBits {
    let n = per_layer.len().max(1) as f64;
    let mean = |f: fn(&EffectiveBits) -> f64| per_layer.iter().map(f).sum::<f64>() / n;
    EffectiveBits {
        key_bits: mean(|b| b.key_bits),
        value_bits: mean(|b| b.value_bits),
        bits: mean(|b| b.bits),
        codebook_bits_batch1: mean(|b| b.codebook_bits_batch1),
        ..per_layer[0]
    }
}

/// Layers as `0-16,19,21-22`.
pub fn layer_list(layers: &[usize]) -> String {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for &l in layers {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == l => *end = l,
            _ => runs.push((l, l)),
        }
    }
    runs.iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The largest layer number [`parse_layer_list`] takes: far past any model's depth, and it
/// keeps a range like `0-99999999999` from expanding into billions of layers.
pub const MAX_LAYER: usize = 4095;

/// Parses `17,18,20` or `16-19,23` (ascending order not required, no repeats, no layer past
/// [`MAX_LAYER`]).
pub fn parse_layer_list(text: &str) -> Result<Vec<usize>> {
    let bad = || {
        QuantError::InvalidArgument(format!(
            "layers {text:?}: expected layer numbers and ranges, e.g. 17,18,20 or 16-19,23"
        ))
    };
    let mut named = vec![false; MAX_LAYER + 1];
    let mut layers = Vec::new();
    for item in text.split(',').map(str::trim) {
        let (a, b) = match item.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (item, item),
        };
        let (a, b): (usize, usize) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
        if a > b {
            return Err(bad());
        }
        if b > MAX_LAYER {
            return Err(QuantError::InvalidArgument(format!(
                "layers {text:?}: layer {b} is past any model's depth (at most {MAX_LAYER})"
            )));
        }
        for (l, seen) in named.iter_mut().enumerate().take(b + 1).skip(a) {
            if std::mem::replace(seen, true) {
                return Err(QuantError::InvalidArgument(format!(
                    "layers {text:?} name layer {l} twice"
                )));
            }
            layers.push(l);
        }
    }
    Ok(layers)
}

/// Override `index` (from 0) must be for the base's model shape.
fn check_same_model(index: usize, base: &CodebookMeta, other: &CodebookMeta) -> Result<()> {
    let shape = |m: &CodebookMeta| (m.layers, m.kv_heads, m.head_dim);
    if shape(base) != shape(other) {
        return Err(QuantError::InvalidArgument(format!(
            "layer codebooks #{} are for {} layers × {} KV heads × dim {} of model {:?}, the base codebooks for {} × {} × {} of {:?}: calibrate every set on the same model",
            index + 1,
            other.layers,
            other.kv_heads,
            other.head_dim,
            other.model_id,
            base.layers,
            base.kv_heads,
            base.head_dim,
            base.model_id
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codebook::Granularity;
    use crate::synthetic::random_codebook_set;

    fn set(seed: u64, k: &str, v: &str, layers: usize) -> CodebookSet {
        let (k, v) = (k.parse().unwrap(), v.parse().unwrap());
        random_codebook_set(seed, k, v, Granularity::Layer, layers, 2, 16)
    }

    #[test]
    fn each_layer_is_served_by_the_set_that_names_it() {
        let base = set(1, "d4b8", "d4b8", 6);
        let high = set(2, "d4b12", "d4b8", 6);
        let (base_smooth, high_smooth) = (base.smooth.clone(), high.smooth.clone());
        let plan = CodebookPlan::layered(base, vec![(high, vec![4, 1])]).unwrap();
        assert_eq!(plan.parts().len(), 2);
        assert_eq!(plan.parts()[0].layers, vec![0, 2, 3, 5]);
        assert_eq!(plan.parts()[1].layers, vec![1, 4]);
        assert_eq!(plan.meta().layers, 6);
        assert_eq!(plan.parts()[1].set.meta.layers, 2);
        for layer in 0..6 {
            let (s, local) = plan.set_for(layer).unwrap();
            let high_layer = layer == 1 || layer == 4;
            let want = if high_layer {
                &high_smooth
            } else {
                &base_smooth
            };
            assert_eq!(s.smooth[local], want[layer], "layer {layer}");
            assert_eq!(
                s.meta.key_codec.to_string(),
                if high_layer { "d4b12" } else { "d4b8" }
            );
            assert!(s.layer(local, KeyTransform::BOTH).is_ok());
        }
        assert!(plan.set_for(6).is_err());
        assert_eq!(
            plan.label(),
            "d4b8/d4b8 (layers 0,2-3,5) + d4b12/d4b8 (layers 1,4)"
        );
        // Keys: 4 layers at 2 bits, 2 at 3; values 2 everywhere.
        let (k, v) = plan.bits_per_element(Method::Vq(KeyTransform::BOTH));
        assert!((k - (4.0 * 2.0 + 2.0 * 3.0) / 6.0).abs() < 1e-12 && v == 2.0);
        let method = Method::Vq(KeyTransform::BOTH);
        let at = (CacheLayout::default(), 2048, None);
        let of = |p: usize| method.effective_bits(Some(&plan.parts()[p].set), at.0, at.1, at.2);
        let (low, high) = (of(0), of(1));
        let ((k, v), bits) = Codebooks::Plan(&plan)
            .layer_bits(method, at, 6, None)
            .unwrap();
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        let (pk, pv) = plan.bits_per_element(method);
        assert!(close(k, pk) && close(v, pv) && close(k, (4.0 * 2.0 + 2.0 * 3.0) / 6.0));
        assert!(close(
            bits.key_bits,
            (4.0 * low.key_bits + 2.0 * high.key_bits) / 6.0
        ));
        assert!(close(bits.value_bits, low.value_bits));
        assert!(close(bits.bits, (4.0 * low.bits + 2.0 * high.bits) / 6.0));
        assert_eq!(bits.coded_tokens, low.coded_tokens);
        // Layer 1 alone quantized: the other five hold fp16 and no codebooks.
        let only = Some(&[1][..]);
        let ((k, v), bits) = Codebooks::Plan(&plan)
            .layer_bits(method, at, 6, only)
            .unwrap();
        assert!(close(k, (3.0 + 5.0 * 16.0) / 6.0) && close(v, (2.0 + 5.0 * 16.0) / 6.0));
        assert!(close(bits.bits, (high.bits + 5.0 * 16.0) / 6.0));
        assert!(close(
            bits.codebook_bits_batch1,
            high.codebook_bits_batch1 / 6.0
        ));
        assert!(
            Codebooks::Plan(&plan)
                .layer_bits(method, at, 7, None)
                .is_err()
        );
    }

    #[test]
    fn a_uniform_plan_is_its_set() {
        let plan = CodebookPlan::uniform(set(1, "d4b9", "d8b10", 3));
        assert!(plan.is_uniform());
        assert_eq!(plan.label(), "d4b9/d8b10");
        assert_eq!(plan.set_for(2).unwrap().1, 2);
        // Every layer overridden: the base serves none and is not a part.
        let plan = CodebookPlan::layered(
            set(1, "d4b8", "d4b8", 2),
            vec![(set(2, "d4b9", "d4b8", 2), vec![0, 1])],
        )
        .unwrap();
        assert!(plan.is_uniform());
        assert_eq!(plan.parts()[0].set.meta.key_codec.to_string(), "d4b9");
        assert_eq!(plan.meta().layers, 2);
    }

    #[test]
    fn bad_plans_say_what_is_wrong() {
        let err = |overrides: Vec<(CodebookSet, Vec<usize>)>| {
            CodebookPlan::layered(set(1, "d4b8", "d4b8", 4), overrides)
                .unwrap_err()
                .to_string()
        };
        assert!(err(vec![(set(2, "d4b9", "d4b8", 4), vec![4])]).contains("out of range"));
        assert!(err(vec![(set(2, "d4b9", "d4b8", 4), vec![])]).contains("name no layers"));
        let twice = err(vec![
            (set(2, "d4b9", "d4b8", 4), vec![1]),
            (set(3, "d4b12", "d4b8", 4), vec![2, 1]),
        ]);
        assert!(
            twice.contains("layer 1 is named by layer codebooks #1 and #2"),
            "{twice}"
        );
        assert!(err(vec![(set(2, "d4b9", "d4b8", 5), vec![1])]).contains("same model"));
        // A name of its own (a renamed model file) is kept and reported, not refused.
        let mut other = set(2, "d4b9", "d4b8", 4);
        other.meta.model_id = "another".into();
        let base_id = set(1, "d4b8", "d4b8", 4).meta.model_id;
        let plan =
            CodebookPlan::layered(set(1, "d4b8", "d4b8", 4), vec![(other, vec![1])]).unwrap();
        assert_eq!(plan.model_ids(), vec![base_id.as_str(), "another"]);
        let saved = tempfile::tempdir().unwrap();
        let path = saved.path().join("plan.safetensors");
        plan.save(&path).unwrap();
        assert_eq!(
            CodebookPlan::load(&path).unwrap().model_ids(),
            plan.model_ids()
        );
        assert!(set(1, "d4b8", "d4b8", 3).into_layers(&[0, 0]).is_err());
        assert!(set(1, "d4b8", "d4b8", 3).into_layers(&[3]).is_err());
        assert!(set(1, "d4b8", "d4b8", 3).layers(&[0, 0]).is_err());
        assert!(set(1, "d4b8", "d4b8", 3).layers(&[3]).is_err());
    }

    #[test]
    fn a_borrowed_cut_equals_the_owned_one() {
        let whole = set(4, "d4b8", "d8b8", 5);
        for layers in [vec![], vec![3], vec![4, 0, 2], vec![0, 1, 2, 3, 4]] {
            let owned = set(4, "d4b8", "d8b8", 5).into_layers(&layers).unwrap();
            let borrowed = whole.layers(&layers).unwrap();
            assert_eq!(owned.meta, borrowed.meta);
            assert_eq!(borrowed.meta.layers, layers.len());
            assert_eq!(owned.smooth, borrowed.smooth);
            let centroids = |books: &crate::LayerCodebooks| -> Vec<f32> {
                books
                    .all()
                    .iter()
                    .flat_map(|b| b.centroids().to_vec())
                    .collect()
            };
            for l in 0..layers.len() {
                for t in owned.transforms() {
                    let (a, b) = (owned.layer(l, t).unwrap(), borrowed.layer(l, t).unwrap());
                    assert_eq!(centroids(a.keys), centroids(b.keys), "{layers:?} {l}");
                    assert_eq!(centroids(a.values), centroids(b.values), "{layers:?} {l}");
                }
                assert_eq!(
                    centroids(borrowed.layer(l, KeyTransform::BOTH).unwrap().values),
                    centroids(whole.layer(layers[l], KeyTransform::BOTH).unwrap().values)
                );
            }
        }
    }

    #[test]
    fn parts_must_cover_every_layer_once() {
        let parts = |a: Vec<usize>, b: Vec<usize>| {
            let (na, nb) = (a.len(), b.len());
            vec![
                PlanPart {
                    set: set(1, "d4b8", "d8b8", na),
                    layers: a,
                },
                PlanPart {
                    set: set(2, "d4b12", "d4b8", nb),
                    layers: b,
                },
            ]
        };
        let plan = CodebookPlan::from_parts(parts(vec![0, 2], vec![1]), "x".into()).unwrap();
        assert_eq!(plan.layers(), 3);
        assert_eq!(plan.part_of(1).unwrap(), (1, 0));
        assert_eq!(plan.part_of(2).unwrap(), (0, 1));
        assert_eq!(plan.meta().layers, 3);
        assert_eq!(plan.meta().key_codec.to_string(), "d4b8");
        let err = |a, b| {
            CodebookPlan::from_parts(parts(a, b), String::new())
                .unwrap_err()
                .to_string()
        };
        assert!(err(vec![0, 1], vec![1]).contains("parts 0 and 1"));
        assert!(err(vec![0, 3], vec![1]).contains("each of 0 to 2 once"));
        assert!(err(vec![2, 0], vec![1]).contains("not ascending"));
        let mut short = parts(vec![0, 2], vec![1]);
        short[0].layers.pop();
        assert!(
            CodebookPlan::from_parts(short, String::new())
                .unwrap_err()
                .to_string()
                .contains("names 1 layers but its codebooks hold 2")
        );
        assert!(CodebookPlan::from_parts(Vec::new(), String::new()).is_err());
        // Another name is kept (a renamed model file); another head shape is refused.
        let mut renamed = parts(vec![0, 2], vec![1]);
        renamed[1].set.meta.model_id = "renamed".into();
        assert_eq!(
            CodebookPlan::from_parts(renamed, String::new())
                .unwrap()
                .model_ids()
                .len(),
            2
        );
        for (kv_heads, head_dim) in [(3, 16), (2, 32)] {
            let mut other = parts(vec![0, 2], vec![1]);
            other[1].set = random_codebook_set(
                2,
                "d4b12".parse().unwrap(),
                "d4b8".parse().unwrap(),
                Granularity::Layer,
                1,
                kv_heads,
                head_dim,
            );
            let err = CodebookPlan::from_parts(other, String::new())
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!(
                    "part 1 is for {kv_heads} KV heads × dim {head_dim}"
                )),
                "{err}"
            );
        }
    }

    #[test]
    fn layer_lists_parse_and_print() {
        assert_eq!(parse_layer_list("17,18,20").unwrap(), vec![17, 18, 20]);
        assert_eq!(
            parse_layer_list("16-19, 23").unwrap(),
            vec![16, 17, 18, 19, 23]
        );
        assert_eq!(layer_list(&[0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
        assert_eq!(parse_layer_list("4095").unwrap(), vec![4095]);
        for bad in [
            "",
            "a",
            "3-1",
            "1,1",
            "2-4,3",
            "-1",
            "0-99999999999",
            "4096",
        ] {
            assert!(parse_layer_list(bad).is_err(), "{bad:?}");
        }
    }
}
