//! A cache whose layers are held by several caches: a layer-wise bit allocation on the GPU
//! (one [`VqCache`] per part of a [`CodebookPlan`], each with its own codecs, kernels and
//! tuned config), or the layer-sensitivity probe (some layers coded, the others an
//! [`Fp16Cache`]). The engine calls layers in order, so a part's first layer begins its step
//! as the part's layer 0 would in a cache of its own.

use crate::engine::{TokenWrites, Tuned};
use crate::error::{EngineError, Result};
use crate::kernels::ForwardKernels;
use crate::kv::{CacheShape, Fp16Cache, KvCache};
use crate::vq::VqCache;
use cudarc::driver::CudaSlice;
use vecinfer_quant::plan::layer_list;
use vecinfer_quant::{CacheLayout, CodebookPlan, CodebookSet, KeyTransform};
use vecinfer_runtime::{Gpu, TokenSlots};

pub struct LayeredCache {
    shape: CacheShape,
    /// Each part's cache and the model layers it holds.
    parts: Vec<(Box<dyn KvCache>, Vec<usize>)>,
    /// Per model layer: its part and its index there.
    of_layer: Vec<(usize, usize)>,
}

impl LayeredCache {
    /// A VQ cache per part of `plan`, each for `shape.batch` sequences of up to
    /// `shape.capacity` tokens ([`VqCache::new`]).
    pub fn from_plan(
        gpu: &Gpu,
        plan: &CodebookPlan,
        transform: KeyTransform,
        shape: CacheShape,
        layout: CacheLayout,
        tuned: &Tuned,
    ) -> Result<Self> {
        if plan.layers() != shape.layers {
            return Err(EngineError::Invalid(format!(
                "the codebook plan covers {} layers, the model has {}",
                plan.layers(),
                shape.layers
            )));
        }
        let mut parts: Vec<(Box<dyn KvCache>, Vec<usize>)> = Vec::with_capacity(plan.parts().len());
        for part in plan.parts() {
            let part_shape = CacheShape {
                layers: part.layers.len(),
                ..shape
            };
            let cache = VqCache::new(gpu, &part.set, transform, part_shape, layout, tuned)?;
            parts.push((Box::new(cache), part.layers.clone()));
        }
        Self::from_parts(shape, parts)
    }

    /// `coded` (each once, in any order) in a VQ cache of `set`'s codebooks for those layers,
    /// every other layer in an FP16 cache of `fp16_kernels` (needed unless every layer is
    /// coded): what one layer loses alone, on the GPU (the CPU evaluation's `--only-layers`).
    pub fn only_layers(
        gpu: &Gpu,
        (set, coded): (&CodebookSet, &[usize]),
        transform: KeyTransform,
        (shape, layout): (CacheShape, CacheLayout),
        (tuned, fp16_kernels): (&Tuned, Option<&ForwardKernels>),
    ) -> Result<Self> {
        if set.meta.layers != shape.layers {
            return Err(EngineError::Invalid(format!(
                "the codebooks cover {} layers, the model has {}",
                set.meta.layers, shape.layers
            )));
        }
        // A part's layers go in ascending order: the engine calls layers in order, and a part's
        // local layer 0 begins its step.
        let mut coded = coded.to_vec();
        coded.sort_unstable();
        if coded.windows(2).any(|w| w[0] == w[1]) {
            return Err(EngineError::Invalid(format!(
                "layers {}: name each coded layer once",
                layer_list(&coded)
            )));
        }
        let mut parts: Vec<(Box<dyn KvCache>, Vec<usize>)> = Vec::with_capacity(2);
        let exact: Vec<usize> = (0..shape.layers).filter(|l| !coded.contains(l)).collect();
        if !exact.is_empty() {
            let kernels = fp16_kernels.ok_or_else(|| {
                EngineError::Invalid(format!(
                    "layers {} stay fp16: the FP16 cache needs forward kernels",
                    layer_list(&exact)
                ))
            })?;
            let part_shape = CacheShape {
                layers: exact.len(),
                ..shape
            };
            let cache = Fp16Cache::new(gpu, kernels, part_shape)?;
            parts.push((Box::new(cache), exact));
        }
        if !coded.is_empty() {
            let part_set = set
                .layers(&coded)
                .map_err(|e| EngineError::Invalid(format!("layers {}: {e}", layer_list(&coded))))?;
            let part_shape = CacheShape {
                layers: coded.len(),
                ..shape
            };
            let cache = VqCache::new(gpu, &part_set, transform, part_shape, layout, tuned)?;
            parts.push((Box::new(cache), coded));
        }
        Self::from_parts(shape, parts)
    }

    /// Parts that hold every layer below `shape.layers` exactly once, each part's layers in
    /// ascending order as its local layers 0, 1, ...
    fn from_parts(shape: CacheShape, parts: Vec<(Box<dyn KvCache>, Vec<usize>)>) -> Result<Self> {
        let mut of_layer: Vec<Option<(usize, usize)>> = vec![None; shape.layers];
        for (p, (_, layers)) in parts.iter().enumerate() {
            if layers.windows(2).any(|w| w[0] >= w[1]) {
                return Err(EngineError::Invalid(format!(
                    "part {p}'s layers {layers:?} are not ascending: a part's first layer begins its step"
                )));
            }
            for (local, &layer) in layers.iter().enumerate() {
                match of_layer.get_mut(layer) {
                    Some(slot @ None) => *slot = Some((p, local)),
                    Some(Some((before, _))) => {
                        return Err(EngineError::Invalid(format!(
                            "layer {layer} is in parts {before} and {p}: each layer belongs to one part"
                        )));
                    }
                    None => {
                        return Err(EngineError::Invalid(format!(
                            "layer {layer} of part {p} is past the cache's {} layers",
                            shape.layers
                        )));
                    }
                }
            }
        }
        let of_layer = of_layer
            .into_iter()
            .enumerate()
            .map(|(layer, at)| {
                at.ok_or_else(|| {
                    EngineError::Invalid(format!(
                        "layer {layer} is in no part of the layered cache"
                    ))
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            shape,
            parts,
            of_layer,
        })
    }

    /// `layer`'s part's cache and the layer's index there.
    fn part(&mut self, layer: usize) -> Result<(&mut dyn KvCache, usize)> {
        let &(p, local) = self.of_layer.get(layer).ok_or_else(|| {
            EngineError::Invalid(format!(
                "layer {layer}: the cache has {} layers",
                self.shape.layers
            ))
        })?;
        Ok((self.parts[p].0.as_mut(), local))
    }

    fn each(&mut self, mut f: impl FnMut(&mut dyn KvCache) -> Result<()>) -> Result<()> {
        self.parts.iter_mut().try_for_each(|(c, _)| f(c.as_mut()))
    }
}

impl KvCache for LayeredCache {
    fn describe(&self) -> String {
        self.parts
            .iter()
            .map(|(c, l)| format!("layers {}: {}", layer_list(l), c.describe()))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn shape(&self) -> CacheShape {
        self.shape
    }

    fn load_prompt(
        &mut self,
        gpu: &Gpu,
        layer: usize,
        keys: &CudaSlice<u16>,
        values: &CudaSlice<u16>,
        tokens: usize,
    ) -> Result<()> {
        let (cache, local) = self.part(layer)?;
        cache.load_prompt(gpu, local, keys, values, tokens)
    }

    fn append(
        &mut self,
        gpu: &Gpu,
        layer: usize,
        keys: &CudaSlice<u16>,
        values: &CudaSlice<u16>,
        positions: &CudaSlice<i32>,
    ) -> Result<()> {
        let (cache, local) = self.part(layer)?;
        cache.append(gpu, local, keys, values, positions)
    }

    fn begin_written_step(&mut self, gpu: &Gpu) -> Result<bool> {
        // No part begins a written step unless every part takes one: a part that began would
        // begin again at its first append.
        if !self.takes_projection_writes() {
            return Ok(false);
        }
        let mut began = Vec::with_capacity(self.parts.len());
        self.each(|c| {
            began.push(c.begin_written_step(gpu)?);
            Ok(())
        })?;
        Ok(began.iter().all(|&b| b))
    }

    // The projection writes only where every part prefers them (the FP16 cache prefers its
    // append).
    fn preferred_token_writes(&self) -> TokenWrites {
        if self
            .parts
            .iter()
            .all(|(c, _)| c.preferred_token_writes() == TokenWrites::Projection)
        {
            TokenWrites::Projection
        } else {
            TokenWrites::Append
        }
    }

    fn takes_projection_writes(&self) -> bool {
        self.parts.iter().all(|(c, _)| c.takes_projection_writes())
    }

    fn token_slots(&mut self, layer: usize) -> Result<TokenSlots<'_>> {
        let (cache, local) = self.part(layer)?;
        cache.token_slots(local)
    }

    fn attend(
        &mut self,
        gpu: &Gpu,
        layer: usize,
        query: &CudaSlice<u16>,
        out: &mut CudaSlice<u16>,
        positions: &CudaSlice<i32>,
        plan_len: usize,
    ) -> Result<()> {
        let (cache, local) = self.part(layer)?;
        cache.attend(gpu, local, query, out, positions, plan_len)
    }

    fn save_host(&mut self) {
        self.parts.iter_mut().for_each(|(c, _)| c.save_host());
    }

    fn restore_host(&mut self) {
        self.parts.iter_mut().for_each(|(c, _)| c.restore_host());
    }

    fn replayed(&mut self) -> Result<()> {
        self.each(|c| c.replayed())
    }

    fn prepare_graphs(&mut self, gpu: &Gpu, horizon: usize, plan_len: usize) -> Result<()> {
        self.each(|c| c.prepare_graphs(gpu, horizon, plan_len))
    }

    fn leave_graphs(&mut self) {
        self.parts.iter_mut().for_each(|(c, _)| c.leave_graphs());
    }

    fn set_dependent_launches(&mut self, gpu: &Gpu, on: bool) -> Result<()> {
        self.each(|c| c.set_dependent_launches(gpu, on))
    }

    fn fill_for_benchmark(
        &mut self,
        gpu: &Gpu,
        kernels: &ForwardKernels,
        lengths: &[usize],
    ) -> Result<()> {
        self.each(|c| c.fill_for_benchmark(gpu, kernels, lengths))
    }

    fn device_bytes(&self) -> usize {
        self.parts.iter().map(|(c, _)| c.device_bytes()).sum()
    }

    fn bytes_read_per_step(&self, len: usize) -> usize {
        self.parts
            .iter()
            .map(|(c, _)| c.bytes_read_per_step(len))
            .sum()
    }

    fn entry_contents(&self, gpu: &Gpu, layer: usize, entry: usize) -> Result<Vec<u8>> {
        crate::kv::check_entry(&self.shape, layer, entry)?;
        let (p, local) = self.of_layer[layer];
        self.parts[p].0.entry_contents(gpu, local, entry)
    }
}
