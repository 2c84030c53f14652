//! A layer-wise bit allocation on the GPU: one [`VqCache`] per part of a
//! [`CodebookPlan`], each holding its layers with its own codecs, kernels and tuned config.
//! The engine calls layers in order, so a part's first layer begins its step as the part's
//! layer 0 would in a cache of its own.

use crate::engine::{TokenWrites, Tuned};
use crate::error::{EngineError, Result};
use crate::kernels::ForwardKernels;
use crate::kv::{CacheShape, KvCache};
use crate::vq::VqCache;
use cudarc::driver::CudaSlice;
use vecinfer_quant::plan::layer_list;
use vecinfer_quant::{CacheLayout, CodebookPlan, KeyTransform};
use vecinfer_runtime::{Gpu, TokenSlots};

pub struct LayeredVqCache {
    shape: CacheShape,
    /// Each part's cache and the model layers it holds.
    parts: Vec<(VqCache, Vec<usize>)>,
    /// Per model layer: its part and its index there.
    of_layer: Vec<(usize, usize)>,
}

impl LayeredVqCache {
    /// A cache per part of `plan`, each for `shape.batch` sequences of up to
    /// `shape.capacity` tokens ([`VqCache::new`]).
    pub fn new(
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
        let mut parts = Vec::with_capacity(plan.parts().len());
        for part in plan.parts() {
            let part_shape = CacheShape {
                layers: part.layers.len(),
                ..shape
            };
            let cache = VqCache::new(gpu, &part.set, transform, part_shape, layout, tuned)?;
            parts.push((cache, part.layers.clone()));
        }
        let of_layer = (0..shape.layers)
            .map(|layer| plan.part_of(layer))
            .collect::<std::result::Result<_, _>>()?;
        Ok(Self {
            shape,
            parts,
            of_layer,
        })
    }

    /// The parts' caches and their model layers (for checks).
    pub fn parts(&self) -> impl Iterator<Item = (&VqCache, &[usize])> {
        self.parts.iter().map(|(c, l)| (c, l.as_slice()))
    }

    /// `layer`'s part's cache and the layer's index there.
    fn part(&mut self, layer: usize) -> Result<(&mut VqCache, usize)> {
        let &(p, local) = self.of_layer.get(layer).ok_or_else(|| {
            EngineError::Invalid(format!(
                "layer {layer}: the cache has {} layers",
                self.shape.layers
            ))
        })?;
        Ok((&mut self.parts[p].0, local))
    }

    fn each(&mut self, mut f: impl FnMut(&mut VqCache) -> Result<()>) -> Result<()> {
        self.parts.iter_mut().try_for_each(|(c, _)| f(c))
    }
}

impl KvCache for LayeredVqCache {
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
        let mut began = Vec::with_capacity(self.parts.len());
        self.each(|c| {
            began.push(c.begin_written_step(gpu)?);
            Ok(())
        })?;
        Ok(began.iter().all(|&b| b))
    }

    fn preferred_token_writes(&self) -> TokenWrites {
        self.parts[0].0.preferred_token_writes()
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

    fn prepare_graphs(&mut self, gpu: &Gpu, horizon: usize) -> Result<()> {
        self.each(|c| c.prepare_graphs(gpu, horizon))
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
        len: usize,
    ) -> Result<()> {
        self.each(|c| c.fill_for_benchmark(gpu, kernels, len))
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
