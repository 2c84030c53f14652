//! What the GPU tests read back from a cache of either layout, per batch entry, to compare it
//! with the CPU reference.

use vecinfer_runtime::{CacheView, Gpu, GpuKvCache, PagedKvCache, SequenceId, Step};

pub trait Readback {
    /// Tokens of batch entry `seq`.
    fn len(&self, seq: usize) -> usize;
    /// Its coded rows of KV head `h`, keys and values, in token order.
    fn rows(&self, gpu: &Gpu, seq: usize, h: usize) -> (Vec<u8>, Vec<u8>);
    /// Its fp16 slots of KV head `h`, keys and values, `[sinks + residual, head_dim]`.
    fn fp16(&self, gpu: &Gpu, seq: usize, h: usize) -> (Vec<u16>, Vec<u16>);
    /// What attention reads (the whole batch).
    fn view(&self) -> CacheView<'_>;
}

impl Readback for GpuKvCache {
    fn len(&self, seq: usize) -> usize {
        GpuKvCache::len(self, seq)
    }
    fn rows(&self, gpu: &Gpu, seq: usize, h: usize) -> (Vec<u8>, Vec<u8>) {
        self.download_rows(gpu, seq, h).unwrap()
    }
    fn fp16(&self, gpu: &Gpu, seq: usize, h: usize) -> (Vec<u16>, Vec<u16>) {
        self.download_fp16(gpu, seq, h).unwrap()
    }
    fn view(&self) -> CacheView<'_> {
        GpuKvCache::view(self)
    }
}

/// One layer of a paged cache and a batch of its sequences (entry `b` is `ids[b]`), with the
/// step whose tables attention reads.
pub struct PagedBatch {
    pub cache: PagedKvCache,
    pub ids: Vec<SequenceId>,
    pub step: Step,
}

impl Readback for PagedBatch {
    fn len(&self, seq: usize) -> usize {
        self.cache.len(self.ids[seq]).unwrap()
    }
    fn rows(&self, gpu: &Gpu, seq: usize, h: usize) -> (Vec<u8>, Vec<u8>) {
        self.cache.download_rows(gpu, 0, self.ids[seq], h).unwrap()
    }
    fn fp16(&self, gpu: &Gpu, seq: usize, h: usize) -> (Vec<u16>, Vec<u16>) {
        self.cache.download_fp16(gpu, 0, self.ids[seq], h).unwrap()
    }
    fn view(&self) -> CacheView<'_> {
        self.cache.view(&self.step, 0).unwrap()
    }
}
