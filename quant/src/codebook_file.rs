//! The calibrated state of a model, and its file: safetensors, readable from Python.
//!
//! Tensors (all layers stacked):
//! - `smooth`: f32 `[layers, kv_heads, head_dim]`, the smooth scales λ;
//! - `keys.<transform>`: f16 `[layers, groups, 2^b, d]` for each key transform calibrated
//!   (`plain`, `smooth`, `hadamard`, `smooth_hadamard`); a codebook is trained on keys *after*
//!   its transform;
//! - `values`: f16 `[layers, groups, 2^b, d]` (values are never transformed).
//!
//! `groups` is 1 for per-layer codebooks and `kv_heads` for per-head codebooks. The metadata
//! (`__metadata__`) holds the [`CodebookMeta`] fields as strings; `smooth_rule` (how λ was
//! chosen, [`SmoothRule`]) was added later without a version change: a file without it was
//! written with the paper's rule and reads as `max`. Likewise `weight_rule` (how k-means
//! weighed the calibration tokens, [`WeightRule`]): a file without it reads as `none`.
//!
//! Version 2 adds `rotation.smooth_hadamard`: f32 `[layers, kv_heads, head_dim, head_dim]`, a
//! learned rotation per (layer, KV head) that replaces the Hadamard of `smooth_hadamard`
//! ([`crate::rotation`]). Only files with it are written as version 2, so that a reader of
//! version 1 refuses them instead of applying the Hadamard to keys coded under another rotation.

use crate::codebook::{Codebook, Granularity, LayerCodebooks};
use crate::codec::VqCodec;
use crate::error::{QuantError, Result};
use crate::transform::{KeyTransform, SmoothRule};
use crate::weighting::WeightRule;
use half::f16;
use safetensors::SafeTensors;
use safetensors::tensor::{Dtype, TensorView};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

pub const FORMAT_NAME: &str = "vecinfer-codebooks";
pub const FORMAT_VERSION: u32 = 1;
/// The version of files with a learned key rotation.
pub const FORMAT_VERSION_ROTATION: u32 = 2;
/// The tensor of the learned rotation (it belongs to the `smooth_hadamard` key codebooks).
const ROTATION_TENSOR: &str = "rotation.smooth_hadamard";

#[derive(Clone, Debug, PartialEq)]
pub struct CodebookMeta {
    pub key_codec: VqCodec,
    pub value_codec: VqCodec,
    pub granularity: Granularity,
    pub head_dim: usize,
    pub layers: usize,
    pub kv_heads: usize,
    pub model_id: String,
    /// Free-form provenance (calibration text, token count, seed), stored as given.
    pub calibration: String,
    /// How the smooth scales λ were chosen (`max` for files that predate the field).
    pub smooth_rule: SmoothRule,
    /// How k-means weighed the calibration tokens (`none` for files that predate the field).
    pub weight_rule: WeightRule,
    /// k-means / Procrustes alternations of the learned rotation that replaces the Hadamard of
    /// `smooth_hadamard` keys; 0 (and files that predate the field): the Hadamard.
    pub rotation_alternations: usize,
}

impl CodebookMeta {
    /// `K/V`, with ` per head` for one codebook per (layer, KV head): how logs and plan labels
    /// tell two granularities of one pair apart.
    pub fn pair_label(&self) -> String {
        let pair = format!("{}/{}", self.key_codec, self.value_codec);
        match self.granularity {
            Granularity::Layer => pair,
            Granularity::Head => format!("{pair} per head"),
        }
    }

    /// `hadamard`, or `learned:N` (the metadata's `key_rotation`).
    pub fn key_rotation(&self) -> String {
        rotation_name(self.rotation_alternations)
    }
}

/// A key rotation's name (as `calibrate --rotation` takes it): `hadamard` for 0 alternations,
/// else `learned:N`.
pub fn rotation_name(alternations: usize) -> String {
    match alternations {
        0 => "hadamard".into(),
        n => format!("learned:{n}"),
    }
}

/// Everything calibration produces for one model.
#[derive(Clone, Debug)]
pub struct CodebookSet {
    pub meta: CodebookMeta,
    /// Per layer, `[kv_heads * head_dim]`.
    pub smooth: Vec<Vec<f32>>,
    /// Per key transform, per layer.
    pub keys: BTreeMap<&'static str, Vec<LayerCodebooks>>,
    /// Per layer.
    pub values: Vec<LayerCodebooks>,
    /// Per layer `[kv_heads, head_dim, head_dim]`: learned rotations that replace the Hadamard
    /// of the `smooth_hadamard` keys (None: the Hadamard).
    pub rotation: Option<Vec<Vec<f32>>>,
}

/// What a VQ method needs for one layer.
#[derive(Clone, Copy)]
pub struct LayerParams<'a> {
    pub transform: KeyTransform,
    pub keys: &'a LayerCodebooks,
    pub values: &'a LayerCodebooks,
    /// `[kv_heads * head_dim]`
    pub smooth: &'a [f32],
    pub head_dim: usize,
    pub kv_heads: usize,
    /// `[kv_heads, head_dim, head_dim]`: the learned rotation that replaces the Hadamard
    /// (only for `smooth_hadamard` keys of a file that has one).
    pub rotation: Option<&'a [f32]>,
}

impl<'a> LayerParams<'a> {
    pub fn smooth_for_head(&self, kv_head: usize) -> &'a [f32] {
        &self.smooth[kv_head * self.head_dim..(kv_head + 1) * self.head_dim]
    }

    /// The learned rotation of `kv_head`, if the layer has one.
    pub fn rotation_for_head(&self, kv_head: usize) -> Option<&'a [f32]> {
        let dd = self.head_dim * self.head_dim;
        self.rotation.map(|r| &r[kv_head * dd..(kv_head + 1) * dd])
    }

    /// A key of `kv_head` into the space its codebook was trained in (smooth, then the
    /// Hadamard or the learned rotation).
    pub fn key_to_code_space(&self, kv_head: usize, key: &mut [f32]) -> Result<()> {
        let scales = self.smooth_for_head(kv_head);
        match self.rotation_for_head(kv_head) {
            None => self.transform.apply_to_key(key, scales),
            Some(r) => {
                KeyTransform::SMOOTH.apply_to_key(key, scales)?;
                crate::rotation::rotate(r, key)
            }
        }
    }

    /// The query compensation of [`Self::key_to_code_space`]: scores are unchanged.
    pub fn query_to_code_space(&self, kv_head: usize, query: &mut [f32]) -> Result<()> {
        let scales = self.smooth_for_head(kv_head);
        match self.rotation_for_head(kv_head) {
            None => self.transform.apply_to_query(query, scales),
            Some(r) => {
                KeyTransform::SMOOTH.apply_to_query(query, scales)?;
                crate::rotation::rotate(r, query)
            }
        }
    }

    /// Undoes [`Self::key_to_code_space`].
    pub fn key_from_code_space(&self, kv_head: usize, key: &mut [f32]) -> Result<()> {
        let scales = self.smooth_for_head(kv_head);
        match self.rotation_for_head(kv_head) {
            None => self.transform.invert_on_key(key, scales),
            Some(r) => {
                crate::rotation::rotate_back(r, key)?;
                KeyTransform::SMOOTH.invert_on_key(key, scales)
            }
        }
    }
}

impl CodebookSet {
    /// The key transforms calibrated, in the paper's ablation order.
    pub fn transforms(&self) -> Vec<KeyTransform> {
        KeyTransform::ALL
            .into_iter()
            .filter(|t| self.keys.contains_key(t.name()))
            .collect()
    }

    pub fn layer(&self, layer: usize, transform: KeyTransform) -> Result<LayerParams<'_>> {
        let keys = self.keys.get(transform.name()).ok_or_else(|| {
            QuantError::InvalidArgument(format!(
                "the codebooks hold no key codebooks for transform {:?}; calibrated transforms: {:?}",
                transform.name(),
                self.keys.keys().collect::<Vec<_>>()
            ))
        })?;
        if layer >= self.meta.layers {
            return Err(QuantError::InvalidArgument(format!(
                "layer {layer} out of range: the codebooks cover {} layers",
                self.meta.layers
            )));
        }
        Ok(LayerParams {
            transform,
            keys: &keys[layer],
            values: &self.values[layer],
            smooth: &self.smooth[layer],
            head_dim: self.meta.head_dim,
            kv_heads: self.meta.kv_heads,
            rotation: match (&self.rotation, transform == KeyTransform::BOTH) {
                (Some(r), true) => Some(&r[layer]),
                _ => None,
            },
        })
    }

    /// The set cut down to `layers` (distinct, each below the set's layer count), in that
    /// order: layer `i` of the result is layer `layers[i]` of this set.
    pub fn into_layers(self, layers: &[usize]) -> Result<Self> {
        self.check_layers(layers)?;
        fn pick<T>(all: Vec<T>, layers: &[usize]) -> Vec<T> {
            let mut slots: Vec<Option<T>> = all.into_iter().map(Some).collect();
            layers.iter().filter_map(|&l| slots[l].take()).collect()
        }
        Ok(Self {
            meta: CodebookMeta {
                layers: layers.len(),
                ..self.meta
            },
            smooth: pick(self.smooth, layers),
            keys: self
                .keys
                .into_iter()
                .map(|(t, books)| (t, pick(books, layers)))
                .collect(),
            values: pick(self.values, layers),
            rotation: self.rotation.map(|r| pick(r, layers)),
        })
    }

    /// [`Self::into_layers`] of a borrowed set: copies only those layers.
    pub fn layers(&self, layers: &[usize]) -> Result<Self> {
        self.check_layers(layers)?;
        fn pick<T: Clone>(all: &[T], layers: &[usize]) -> Vec<T> {
            layers.iter().map(|&l| all[l].clone()).collect()
        }
        Ok(Self {
            meta: CodebookMeta {
                layers: layers.len(),
                ..self.meta.clone()
            },
            smooth: pick(&self.smooth, layers),
            keys: self
                .keys
                .iter()
                .map(|(&t, books)| (t, pick(books, layers)))
                .collect(),
            values: pick(&self.values, layers),
            rotation: self.rotation.as_ref().map(|r| pick(r, layers)),
        })
    }

    fn check_layers(&self, layers: &[usize]) -> Result<()> {
        let count = self.meta.layers;
        let mut seen = vec![false; count];
        for &l in layers {
            if l >= count || std::mem::replace(&mut seen[l], true) {
                return Err(QuantError::InvalidArgument(format!(
                    "layers {layers:?}: each must be below {count} and named once"
                )));
            }
        }
        Ok(())
    }

    /// Rounds every key codebook (each transform's) to e4m3 ([`Codebook::to_e4m3`]), for
    /// kernels that keep the key book as e4m3; the value books stay as they are.
    pub fn round_keys_to_e4m3(&mut self) {
        for layers in self.keys.values_mut() {
            for books in layers.iter_mut() {
                *books = books.to_e4m3();
            }
        }
    }

    /// Writes the file atomically (a unique temp file renamed over `path`).
    pub fn save(&self, path: &Path) -> Result<()> {
        write_file(path, self.to_bytes())
    }

    /// The file's bytes (see the module doc for the format).
    pub fn to_bytes(&self) -> std::result::Result<Vec<u8>, String> {
        let m = &self.meta;
        let groups = m.granularity.codebooks_per_layer(m.kv_heads);
        let smooth: Vec<f32> = self.smooth.concat();
        let mut buffers: Vec<(String, Vec<u8>, Vec<usize>, Dtype)> = vec![(
            "smooth".into(),
            smooth.iter().flat_map(|v| v.to_le_bytes()).collect(),
            vec![m.layers, m.kv_heads, m.head_dim],
            Dtype::F32,
        )];
        let stacked = |layers: &[LayerCodebooks], codec: VqCodec| -> (Vec<u8>, Vec<usize>) {
            let bytes = layers
                .iter()
                .flat_map(|l| l.all())
                .flat_map(|cb| cb.to_f16())
                .flat_map(|h| h.to_le_bytes())
                .collect();
            (
                bytes,
                vec![m.layers, groups, codec.codebook_size(), codec.sub_dim()],
            )
        };
        for (name, layers) in &self.keys {
            let (bytes, shape) = stacked(layers, m.key_codec);
            buffers.push((format!("keys.{name}"), bytes, shape, Dtype::F16));
        }
        let (bytes, shape) = stacked(&self.values, m.value_codec);
        buffers.push(("values".into(), bytes, shape, Dtype::F16));
        if self.rotation.is_some() != (m.rotation_alternations > 0) {
            return Err(format!(
                "the set's key rotation is {} but it {} rotation matrices",
                m.key_rotation(),
                if self.rotation.is_some() {
                    "holds"
                } else {
                    "holds no"
                }
            ));
        }
        if let Some(rotation) = &self.rotation {
            if !self.keys.contains_key(KeyTransform::BOTH.name()) {
                return Err("a learned rotation belongs to smooth_hadamard key codebooks, and the set has none".into());
            }
            let per_layer = m.kv_heads * m.head_dim * m.head_dim;
            if rotation.len() != m.layers || rotation.iter().any(|r| r.len() != per_layer) {
                return Err(format!(
                    "the rotations must be {} layers of kv_heads × head_dim² = {per_layer} values",
                    m.layers
                ));
            }
            let flat: Vec<f32> = rotation.concat();
            buffers.push((
                ROTATION_TENSOR.into(),
                flat.iter().flat_map(|v| v.to_le_bytes()).collect(),
                vec![m.layers, m.kv_heads, m.head_dim, m.head_dim],
                Dtype::F32,
            ));
        }
        let version = if self.rotation.is_some() {
            FORMAT_VERSION_ROTATION
        } else {
            FORMAT_VERSION
        };

        let views = buffers
            .iter()
            .map(|(name, bytes, shape, dtype)| {
                TensorView::new(*dtype, shape.clone(), bytes)
                    .map(|view| (name.clone(), view))
                    .map_err(|e| format!("tensor {name}: {e}"))
            })
            .collect::<std::result::Result<Vec<_>, String>>()?;
        let metadata: HashMap<String, String> = [
            ("format", FORMAT_NAME.to_string()),
            ("format_version", version.to_string()),
            ("k_codec", m.key_codec.to_string()),
            ("v_codec", m.value_codec.to_string()),
            ("granularity", m.granularity.to_string()),
            ("head_dim", m.head_dim.to_string()),
            ("layers", m.layers.to_string()),
            ("kv_heads", m.kv_heads.to_string()),
            ("model_id", m.model_id.clone()),
            (
                "key_transforms",
                self.keys.keys().copied().collect::<Vec<_>>().join(","),
            ),
            ("calibration", m.calibration.clone()),
            ("smooth_rule", m.smooth_rule.name()),
            ("weight_rule", m.weight_rule.name()),
            ("key_rotation", m.key_rotation()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        safetensors::serialize(views, Some(metadata))
            .map_err(|e| format!("could not serialise: {e}"))
    }

    pub fn load(path: &Path) -> Result<Self> {
        read_file(path, Self::from_bytes)
    }

    /// Parses and validates a codebook file; the error says what is wrong with it.
    pub fn from_bytes(bytes: &[u8]) -> std::result::Result<Self, String> {
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| format!("not a readable safetensors file (truncated or corrupt?): {e}"))?;
        let tensors = SafeTensors::deserialize(bytes)
            .map_err(|e| format!("not a readable safetensors file (truncated or corrupt?): {e}"))?;
        let meta_map = header
            .metadata()
            .clone()
            .ok_or("no metadata: this is not a vecinfer codebook file")?;
        let get = |key: &str| {
            meta_map
                .get(key)
                .cloned()
                .ok_or_else(|| format!("metadata key {key:?} is missing"))
        };
        if get("format")? == crate::plan_file::PLAN_FORMAT_NAME {
            return Err(format!(
                "this is a layer-wise plan file (several codebook sets, labelled {:?}), and one codebook set is needed here: give one `calibrate` file (a plan file goes to --codebooks of eval or generate)",
                meta_map.get("label").cloned().unwrap_or_default()
            ));
        }
        if get("format")? != FORMAT_NAME {
            return Err(format!(
                "metadata format is {:?}, expected {FORMAT_NAME:?}",
                get("format")?
            ));
        }
        let version: u32 = get("format_version")?
            .parse()
            .map_err(|_| "metadata format_version is not a number".to_string())?;
        if version != FORMAT_VERSION && version != FORMAT_VERSION_ROTATION {
            return Err(format!(
                "format version {version} is not supported: this build reads versions {FORMAT_VERSION} and {FORMAT_VERSION_ROTATION}; re-run `vecinfer calibrate`"
            ));
        }
        let number = |key: &str| -> std::result::Result<usize, String> {
            get(key)?
                .parse()
                .map_err(|_| format!("metadata {key} is not a number"))
        };
        let meta = CodebookMeta {
            key_codec: get("k_codec")?
                .parse()
                .map_err(|e: QuantError| format!("metadata k_codec: {e}"))?,
            value_codec: get("v_codec")?
                .parse()
                .map_err(|e: QuantError| format!("metadata v_codec: {e}"))?,
            granularity: get("granularity")?
                .parse()
                .map_err(|e: QuantError| format!("metadata granularity: {e}"))?,
            head_dim: number("head_dim")?,
            layers: number("layers")?,
            kv_heads: number("kv_heads")?,
            model_id: get("model_id")?,
            calibration: meta_map.get("calibration").cloned().unwrap_or_default(),
            smooth_rule: match meta_map.get("smooth_rule") {
                None => SmoothRule::MAX,
                Some(rule) => rule
                    .parse()
                    .map_err(|e: QuantError| format!("metadata smooth_rule: {e}"))?,
            },
            weight_rule: match meta_map.get("weight_rule") {
                None => WeightRule::NONE,
                Some(rule) => rule
                    .parse()
                    .map_err(|e: QuantError| format!("metadata weight_rule: {e}"))?,
            },
            rotation_alternations: match meta_map.get("key_rotation").map(String::as_str) {
                None | Some("hadamard") => 0,
                Some(other) => other
                    .strip_prefix("learned:")
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .ok_or_else(|| {
                        format!("metadata key_rotation is {other:?}: valid are hadamard and learned:N (N ≥ 1)")
                    })?,
            },
        };
        if (version == FORMAT_VERSION_ROTATION) != (meta.rotation_alternations > 0) {
            return Err(format!(
                "format version {version} does not go with key_rotation {} (a learned rotation is version {FORMAT_VERSION_ROTATION}; corrupt?)",
                meta.key_rotation()
            ));
        }
        crate::hadamard::check_head_dim(meta.head_dim)
            .map_err(|e| format!("metadata head_dim: {e}"))?;
        for codec in [meta.key_codec, meta.value_codec] {
            codec
                .codes_per_vector(meta.head_dim)
                .map_err(|e| format!("metadata: {e}"))?;
        }
        if meta.layers == 0 || meta.kv_heads == 0 {
            return Err("metadata layers and kv_heads must be positive".into());
        }
        let groups = meta.granularity.codebooks_per_layer(meta.kv_heads);

        let smooth_flat = read_tensor(
            &tensors,
            "smooth",
            Dtype::F32,
            &[meta.layers, meta.kv_heads, meta.head_dim],
        )?;
        if smooth_flat.iter().any(|v| !v.is_finite() || *v <= 0.0) {
            return Err("tensor smooth holds a non-positive or non-finite scale (corrupt?)".into());
        }
        let per_layer = meta.kv_heads * meta.head_dim;
        let smooth = smooth_flat
            .chunks_exact(per_layer)
            .map(|c| c.to_vec())
            .collect();

        let read_codebooks =
            |name: &str, codec: VqCodec| -> std::result::Result<Vec<LayerCodebooks>, String> {
                let shape = [meta.layers, groups, codec.codebook_size(), codec.sub_dim()];
                let flat = read_tensor(&tensors, name, Dtype::F16, &shape)?;
                flat.chunks_exact(groups * codec.codebook_size() * codec.sub_dim())
                    .map(|layer| {
                        let books = layer
                            .chunks_exact(codec.codebook_size() * codec.sub_dim())
                            .map(|c| Codebook::new(codec, c))
                            .collect::<Result<Vec<_>>>()
                            .map_err(|e| format!("tensor {name}: {e} (corrupt?)"))?;
                        LayerCodebooks::new(books).map_err(|e| e.to_string())
                    })
                    .collect()
            };
        let names = get("key_transforms")?;
        let mut keys = BTreeMap::new();
        for name in names.split(',').filter(|n| !n.is_empty()) {
            let t = KeyTransform::from_name(name).ok_or_else(|| {
                format!("metadata key_transforms names unknown transform {name:?}")
            })?;
            keys.insert(
                t.name(),
                read_codebooks(&format!("keys.{name}"), meta.key_codec)?,
            );
        }
        if keys.is_empty() {
            return Err(
                "the file holds no key codebooks (metadata key_transforms is empty)".into(),
            );
        }
        let values = read_codebooks("values", meta.value_codec)?;
        let rotation = if version == FORMAT_VERSION_ROTATION {
            if !keys.contains_key(KeyTransform::BOTH.name()) {
                return Err(format!(
                    "a version {version} file holds a learned rotation for smooth_hadamard keys, but no smooth_hadamard codebooks"
                ));
            }
            let d = meta.head_dim;
            let flat = read_tensor(
                &tensors,
                ROTATION_TENSOR,
                Dtype::F32,
                &[meta.layers, meta.kv_heads, d, d],
            )?;
            for (i, r) in flat.chunks_exact(d * d).enumerate() {
                let error = crate::rotation::orthogonality_error(r, d);
                if error.is_nan() || error >= 1e-3 {
                    return Err(format!(
                        "tensor {ROTATION_TENSOR}: the rotation of layer {} KV head {} is not orthogonal (|RᵀR − I| = {error:.2e}; corrupt?)",
                        i / meta.kv_heads,
                        i % meta.kv_heads
                    ));
                }
            }
            Some(
                flat.chunks_exact(meta.kv_heads * d * d)
                    .map(|c| c.to_vec())
                    .collect(),
            )
        } else {
            None
        };
        Ok(Self {
            meta,
            smooth,
            keys,
            values,
            rotation,
        })
    }
}

fn read_tensor(
    tensors: &SafeTensors<'_>,
    name: &str,
    dtype: Dtype,
    shape: &[usize],
) -> std::result::Result<Vec<f32>, String> {
    let view = tensors
        .tensor(name)
        .map_err(|_| format!("tensor {name:?} is missing"))?;
    if view.dtype() != dtype {
        return Err(format!(
            "tensor {name} has dtype {:?}, expected {dtype:?}",
            view.dtype()
        ));
    }
    if view.shape() != shape {
        return Err(format!(
            "tensor {name} has shape {:?}, expected {shape:?} from the metadata",
            view.shape()
        ));
    }
    let data = view.data();
    Ok(match dtype {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        _ => unreachable!("only f32 and f16 tensors are read"),
    })
}

/// Writes a codebook or plan file's bytes (or the reason they could not be made) to `path`
/// through a unique temp file renamed over it: a reader never sees half a file, and two runs
/// never share a temp file.
pub(crate) fn write_file(path: &Path, bytes: std::result::Result<Vec<u8>, String>) -> Result<()> {
    let bytes = bytes.map_err(|problem| QuantError::CodebookFile {
        path: path.display().to_string(),
        problem,
    })?;
    crate::atomic_file::write(path, &bytes).map_err(|source| QuantError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Reads `path` and parses it with `parse`; errors name the file.
pub(crate) fn read_file<T>(
    path: &Path,
    parse: impl FnOnce(&[u8]) -> std::result::Result<T, String>,
) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|source| QuantError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse(&bytes).map_err(|problem| QuantError::CodebookFile {
        path: path.display().to_string(),
        problem,
    })
}
