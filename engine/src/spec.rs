//! Which KV cache a run uses, as a value: the FP16 baseline or a VQ method with its codebooks.

use crate::engine::Engine;
use crate::error::Result;
use crate::kv::{CacheShape, Fp16Cache, KvCache};
use crate::vq::VqCache;
use vecinfer_quant::{CacheLayout, CodebookSet, KeyTransform, Method};
use vecinfer_runtime::kv_cache::coded_tokens;

#[derive(Clone, Copy)]
pub enum CacheSpec<'a> {
    Fp16,
    Vq {
        set: &'a CodebookSet,
        transform: KeyTransform,
        layout: CacheLayout,
    },
}

impl CacheSpec<'_> {
    /// The method's name (`fp16`, `vq`, `vecinfer`, ...).
    pub fn method(&self) -> &'static str {
        match self {
            CacheSpec::Fp16 => Method::Fp16.name(),
            CacheSpec::Vq { transform, .. } => Method::Vq(*transform).name(),
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
        }
    }

    /// Mean bits per K/V element of the coded tokens.
    pub fn bits(&self) -> f64 {
        match self {
            CacheSpec::Fp16 => 16.0,
            CacheSpec::Vq { set, .. } => {
                (set.meta.key_codec.bits_per_element() + set.meta.value_codec.bits_per_element())
                    / 2.0
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
        })
    }

    /// Device bytes of one sequence's cache at `capacity` tokens (all layers).
    pub fn bytes_per_sequence(&self, engine: &Engine, capacity: usize) -> usize {
        let c = &engine.config;
        let per_head_token_fp16 = c.head_dim * 2 * 2;
        match self {
            CacheSpec::Fp16 => c.layers * c.kv_heads * capacity * per_head_token_fp16,
            CacheSpec::Vq { set, layout, .. } => {
                let row = set.meta.key_codec.packed_bytes(c.head_dim).unwrap_or(0)
                    + set.meta.value_codec.packed_bytes(c.head_dim).unwrap_or(0);
                let coded = coded_tokens(*layout, capacity).max(1).next_multiple_of(16);
                let slots = (layout.sinks + layout.residual).max(1);
                let slot_row = 2 * layout.precision.row_bytes(c.head_dim);
                c.layers * c.kv_heads * (coded * row + slots * slot_row)
            }
        }
    }
}
