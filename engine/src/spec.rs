//! Which KV cache a run uses, as a value: the FP16 baseline, or a VQ method with its codebooks
//! (one set, or a layer-wise plan).

use crate::engine::Engine;
use crate::error::Result;
use crate::kv::{CacheShape, Fp16Cache, KvCache};
use crate::layered::LayeredCache;
use crate::vq::VqCache;
use vecinfer_quant::{CacheLayout, CodebookPlan, CodebookSet, KeyTransform, Method};
use vecinfer_runtime::kv_cache::coded_tokens;

#[derive(Clone, Copy)]
pub enum CacheSpec<'a> {
    Fp16,
    Vq {
        set: &'a CodebookSet,
        transform: KeyTransform,
        layout: CacheLayout,
    },
    /// A layer-wise bit allocation: a VQ cache per part of the plan ([`LayeredCache`]).
    Layered {
        plan: &'a CodebookPlan,
        transform: KeyTransform,
        layout: CacheLayout,
    },
    /// The layer-sensitivity probe: `layers` (ascending) coded with `set`'s codebooks for them,
    /// every other layer an FP16 cache ([`LayeredCache::only_layers`]; the CPU evaluation's
    /// `--only-layers`).
    OnlyLayers {
        set: &'a CodebookSet,
        layers: &'a [usize],
        transform: KeyTransform,
        layout: CacheLayout,
    },
}

impl CacheSpec<'_> {
    /// The method's name (`fp16`, `vq`, `vecinfer`, ...).
    pub fn method(&self) -> &'static str {
        match self {
            CacheSpec::Fp16 => Method::Fp16.name(),
            CacheSpec::Vq { transform, .. }
            | CacheSpec::Layered { transform, .. }
            | CacheSpec::OnlyLayers { transform, .. } => Method::Vq(*transform).name(),
        }
    }

    /// The method with its codecs, e.g. `vecinfer d4b8/d4b8`.
    pub fn label(&self) -> String {
        match self {
            CacheSpec::Fp16 => "fp16".into(),
            CacheSpec::Vq { set, .. } => format!(
                "{} {}/{}",
                self.method(),
                set.meta.key_codec,
                set.meta.value_codec
            ),
            CacheSpec::Layered { plan, .. } => format!("{} {}", self.method(), plan.label()),
            CacheSpec::OnlyLayers {
                set, layers: [], ..
            } => format!(
                "{} {}/{} on no layer (all fp16)",
                self.method(),
                set.meta.key_codec,
                set.meta.value_codec
            ),
            CacheSpec::OnlyLayers { set, layers, .. } => format!(
                "{} {}/{} on layers {} (the others fp16)",
                self.method(),
                set.meta.key_codec,
                set.meta.value_codec,
                vecinfer_quant::plan::layer_list(layers)
            ),
        }
    }

    /// Mean bits per K/V element of the coded tokens (a plan's: the mean over layers; the
    /// probe's too, its fp16 layers at 16).
    pub fn bits(&self) -> f64 {
        match self {
            CacheSpec::Fp16 => 16.0,
            CacheSpec::OnlyLayers { set, layers, .. } => {
                let coded = (set.meta.key_codec.bits_per_element()
                    + set.meta.value_codec.bits_per_element())
                    / 2.0;
                let all = set.meta.layers.max(1) as f64;
                let n = (layers.len() as f64).min(all);
                (n * coded + (all - n) * 16.0) / all
            }
            CacheSpec::Vq { set, .. } => {
                (set.meta.key_codec.bits_per_element() + set.meta.value_codec.bits_per_element())
                    / 2.0
            }
            CacheSpec::Layered {
                plan, transform, ..
            } => {
                let (k, v) = plan.bits_per_element(Method::Vq(*transform));
                (k + v) / 2.0
            }
        }
    }

    pub fn build<'e>(
        &self,
        engine: &'e Engine,
        shape: CacheShape,
    ) -> Result<Box<dyn KvCache + 'e>> {
        Ok(match self {
            CacheSpec::Fp16 => Box::new(Fp16Cache::new(
                &engine.gpu,
                &engine.fp16_kernels(shape.batch, shape.capacity)?,
                shape,
            )?),
            CacheSpec::Vq {
                set,
                transform,
                layout,
            } => Box::new(VqCache::new(
                &engine.gpu,
                set,
                *transform,
                shape,
                *layout,
                engine.tuned(),
            )?),
            CacheSpec::Layered {
                plan,
                transform,
                layout,
            } => Box::new(LayeredCache::from_plan(
                &engine.gpu,
                plan,
                *transform,
                shape,
                *layout,
                engine.tuned(),
            )?),
            CacheSpec::OnlyLayers {
                set,
                layers,
                transform,
                layout,
            } => Box::new(LayeredCache::only_layers(
                &engine.gpu,
                (set, layers),
                *transform,
                (shape, *layout),
                (
                    engine.tuned(),
                    // Only when a layer stays fp16: the first call may time the tilings.
                    (layers.len() < shape.layers)
                        .then(|| engine.fp16_kernels(shape.batch, shape.capacity))
                        .transpose()?
                        .as_ref(),
                ),
            )?),
        })
    }

    /// Device bytes of one sequence's cache at `capacity` tokens (all layers).
    pub fn bytes_per_sequence(&self, engine: &Engine, capacity: usize) -> usize {
        let c = &engine.config;
        let per_head_token_fp16 = c.head_dim * 2 * 2;
        match self {
            CacheSpec::Fp16 => c.layers * c.kv_heads * capacity * per_head_token_fp16,
            CacheSpec::Vq { set, layout, .. } => {
                c.layers * vq_bytes_per_layer(set, *layout, c.kv_heads, c.head_dim, capacity)
            }
            CacheSpec::Layered { plan, layout, .. } => plan
                .parts()
                .iter()
                .map(|p| {
                    let per_layer =
                        vq_bytes_per_layer(&p.set, *layout, c.kv_heads, c.head_dim, capacity);
                    p.layers.len() * per_layer
                })
                .sum(),
            CacheSpec::OnlyLayers {
                set,
                layers,
                layout,
                ..
            } => {
                let coded = layers.len().min(c.layers);
                coded * vq_bytes_per_layer(set, *layout, c.kv_heads, c.head_dim, capacity)
                    + (c.layers - coded) * c.kv_heads * capacity * per_head_token_fp16
            }
        }
    }
}

/// Device bytes of one sequence's VQ cache in one layer at `capacity` tokens.
fn vq_bytes_per_layer(
    set: &CodebookSet,
    layout: CacheLayout,
    kv_heads: usize,
    head_dim: usize,
    capacity: usize,
) -> usize {
    let row = set.meta.key_codec.packed_bytes(head_dim).unwrap_or(0)
        + set.meta.value_codec.packed_bytes(head_dim).unwrap_or(0);
    let coded = coded_tokens(layout, capacity).max(1).next_multiple_of(16);
    let slots = (layout.sinks + layout.residual).max(1);
    let slot_row = 2 * layout.precision.row_bytes(head_dim);
    kv_heads * (coded * row + slots * slot_row)
}
