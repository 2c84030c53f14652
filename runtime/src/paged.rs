//! [`PagedKvCache`]: the quantized KV cache of every layer of a model in pages, as an engine
//! keeps it. One page pool and one block table per sequence serve all layers (see
//! [`crate::pages`]); each layer has its own [`LayerStorage`] indexed by the same page ids.
//!
//! The fp16 tokens (sinks and window, at most `sinks + residual` per sequence) stay in a
//! per-sequence slot rather than in pages: they are rewritten as a ring every step and never
//! grow, so paging them would add a table lookup to every fp16 read and save nothing.
//!
//! A step:
//! ```text
//! let step = cache.begin_step(&gpu, &batch, 1)?;        // pages reserved, tables uploaded
//! for layer in 0..layers {
//!     cache.append(&gpu, &appender, &step, layer, &k, &v)?;   // the step's new tokens
//!     cache.attend(&gpu, &attention, &step, layer, &q, &mut out, &mut workspace)?;
//! }
//! ```
//! Changing the sequences (add, remove, fork) ends the step: its handle then fails with a
//! typed error instead of writing through stale tables.

use crate::append::{VqAppend, VqFlush};
use crate::attention::{VqAttention, Workspace};
use crate::error::{Result, RuntimeError};
use crate::gpu::Gpu;
use crate::kv_cache::{Filler, step_bytes};
use crate::pages::{PagePool, SequenceId, SequenceTable};
use crate::spec::CacheSpec;
use crate::storage::{CacheBytes, LayerStorage};
use crate::token_slots::{SlotShape, TokenSlots};
use crate::view::{CacheView, CacheViewMut, DeviceBatch, HostBatch};
use cudarc::driver::CudaSlice;
use vecinfer_codegen::{BookFormat, CodeLayout, KernelConfig};
use vecinfer_quant::{
    CacheLayout, CodebookSet, DecodeShape, KeyTransform, LayerParams, ReferenceKvCache,
};

/// How big the page pool is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolSize {
    Pages(usize),
    /// As many pages as fit in this many bytes of code rows (all layers, keys and values).
    Bytes(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PagedCacheOptions {
    pub page_tokens: usize,
    pub pool: PoolSize,
    /// Live sequences at most (each holds one fp16 slot per layer).
    pub max_sequences: usize,
    pub window: CacheLayout,
    /// Hand pages out in a random order (tests: no sequence's pages are then contiguous).
    pub shuffle_seed: Option<u64>,
}

/// A step begun with [`PagedKvCache::begin_step`]: which tables it uploaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    generation: u64,
    /// Tokens each sequence appends in this step (0: attention only).
    pub count: usize,
    pub batch: usize,
}

pub struct PagedKvCache {
    table: SequenceTable,
    layers: Vec<LayerStorage>,
    batch: DeviceBatch,
    /// Bumped whenever the tables on the device stop describing the sequences.
    generation: u64,
    /// The generation whose step the device tables hold.
    uploaded: Option<u64>,
    /// The batch and the pages per sequence those tables hold, to upload only the lengths
    /// when nothing else changed.
    uploaded_batch: Vec<SequenceId>,
    uploaded_pages: Vec<usize>,
    /// Device-advanced steps left in the current horizon.
    device_steps: usize,
    /// The window flush's table: each layer's buffer addresses (`VqFlush`). Storages are
    /// allocated once, with the cache, so the addresses hold for its life.
    flush_table: CudaSlice<u64>,
}

impl PagedKvCache {
    /// A cache for the layers of `codebooks` (keys coded with `transform`).
    pub fn from_codebooks(
        gpu: &Gpu,
        codebooks: &CodebookSet,
        transform: KeyTransform,
        options: PagedCacheOptions,
    ) -> Result<Self> {
        let layers = (0..codebooks.meta.layers)
            .map(|l| codebooks.layer(l, transform))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Self::new(gpu, &layers, options)
    }

    /// A cache with one storage per entry of `layers`.
    pub fn new(gpu: &Gpu, layers: &[LayerParams<'_>], options: PagedCacheOptions) -> Result<Self> {
        let first = layers.first().ok_or_else(|| {
            RuntimeError::Invalid("a paged cache needs at least one layer".into())
        })?;
        let spec = CacheSpec::of(
            first,
            CodeLayout::Paged {
                page_tokens: options.page_tokens,
            },
            options.window,
        )?;
        let page_bytes = layers.len()
            * spec.kv_heads
            * options.page_tokens
            * (spec.key_row_bytes() + spec.value_row_bytes());
        let pages = match options.pool {
            PoolSize::Pages(n) => n,
            PoolSize::Bytes(b) => b / page_bytes.max(1),
        };
        if pages == 0 {
            return Err(RuntimeError::Invalid(format!(
                "the page pool holds no page: a page of {} tokens takes {page_bytes} bytes over {} layers",
                options.page_tokens,
                layers.len()
            )));
        }
        let mut storages = layers
            .iter()
            .map(|params| {
                LayerStorage::paged(
                    gpu,
                    params,
                    options.window,
                    options.page_tokens,
                    pages,
                    options.max_sequences,
                )
            })
            .collect::<Result<Vec<LayerStorage>>>()?;
        // One kernel serves every layer: the cache holds e4m3 key books only if every layer's
        // are e4m3 values (which each layer's books may be or not on their own).
        let e4m3 = storages
            .iter()
            .all(|s| s.spec().key_books == BookFormat::E4m3);
        for storage in &mut storages {
            storage.limit_key_books(if e4m3 {
                BookFormat::E4m3
            } else {
                BookFormat::F16
            });
        }
        let spec = CacheSpec {
            key_books: storages[0].spec().key_books,
            ..spec
        };
        if let Some(other) = storages.iter().find(|s| *s.spec() != spec) {
            return Err(RuntimeError::Invalid(format!(
                "every layer must have the same codecs, heads and granularity: layer 0 has {spec:?}, another {:?}",
                other.spec()
            )));
        }
        let addresses: Vec<u64> = storages
            .iter()
            .flat_map(|storage| crate::append::flush_layer_pointers(gpu, storage))
            .collect();
        let flush_table = gpu.stream.clone_htod(&addresses)?;
        let pool = match options.shuffle_seed {
            Some(seed) => PagePool::shuffled(pages, seed),
            None => PagePool::new(pages),
        };
        Ok(Self {
            table: SequenceTable::new(
                pool,
                options.page_tokens,
                options.window,
                options.max_sequences,
            ),
            layers: storages,
            batch: DeviceBatch::new(gpu, &HostBatch::default())?,
            generation: 0,
            uploaded: None,
            uploaded_batch: Vec::new(),
            uploaded_pages: Vec::new(),
            device_steps: 0,
            flush_table,
        })
    }

    pub fn spec(&self) -> &CacheSpec {
        self.layers[0].spec()
    }

    pub fn layers(&self) -> usize {
        self.layers.len()
    }

    pub fn table(&self) -> &SequenceTable {
        &self.table
    }

    pub fn len(&self, id: SequenceId) -> Result<usize> {
        self.table.len(id)
    }

    pub fn is_empty(&self, id: SequenceId) -> Result<bool> {
        self.table.is_empty(id)
    }

    /// Every byte the cache holds on the GPU.
    pub fn memory(&self) -> CacheBytes {
        let tables = CacheBytes {
            tables: self.batch.bytes(),
            ..CacheBytes::default()
        };
        self.layers
            .iter()
            .map(|l| l.bytes())
            .fold(tables, |a, b| a + b)
    }

    fn end_step(&mut self) {
        self.generation += 1;
    }

    pub fn add_sequence(&mut self) -> Result<SequenceId> {
        let id = self.table.add()?;
        self.end_step();
        Ok(id)
    }

    /// Removes a sequence; its pages no other sequence holds go back to the pool.
    pub fn remove_sequence(&mut self, id: SequenceId) -> Result<()> {
        self.table.remove(id)?;
        self.end_step();
        Ok(())
    }

    /// A new sequence with the contents of `parent`: its coded pages shared copy-on-write, its
    /// fp16 tokens copied (every layer). For parallel sampling, beam search and prefix caching
    /// (fork a prompt's sequence once it is prefilled).
    pub fn fork(&mut self, gpu: &Gpu, parent: SequenceId) -> Result<SequenceId> {
        let (child, from, to) = self.table.fork(parent)?;
        self.end_step();
        for layer in &mut self.layers {
            layer.copy_slot(gpu, from, to)?;
        }
        Ok(child)
    }

    /// Begins a step of `count` new tokens for each of `ids` (any subset of the live
    /// sequences, any lengths; `count = 0` for attention only): reserves the pages (copying a
    /// shared page the step writes into, in every layer) and uploads the batch tables. Out of
    /// pages is a typed error that changes nothing.
    pub fn begin_step(&mut self, gpu: &Gpu, ids: &[SequenceId], count: usize) -> Result<Step> {
        if ids.is_empty() {
            return Err(RuntimeError::Invalid(
                "a step needs at least one sequence".into(),
            ));
        }
        let mut longest = 0;
        for &id in ids {
            longest = longest.max(self.table.len(id)?.saturating_add(count));
        }
        crate::view::as_i32("sequence length", [longest])?;
        // All or nothing: on any error nothing has changed yet.
        let copies = self.table.reserve(ids, count)?;
        self.copy_pages(gpu, &copies)?;
        let pages = ids
            .iter()
            .map(|&id| Ok(self.table.pages(id)?.len()))
            .collect::<Result<Vec<_>>>()?;
        // Tables still on the device from the last step: if only lengths changed (no page
        // added or copied), upload only them.
        let same_tables = self.uploaded.is_some()
            && copies.is_empty()
            && self.uploaded_batch == ids
            && self.uploaded_pages == pages;
        if same_tables {
            let lengths = ids
                .iter()
                .map(|&id| self.table.len(id))
                .collect::<Result<Vec<_>>>()?;
            self.batch.set_lengths(gpu, &lengths)?;
        } else {
            let host = self.table.batch(ids)?;
            crate::view::as_i32("page table size", [host.page_indices.len()])?;
            self.batch.set(gpu, &host)?;
            self.uploaded_batch = ids.to_vec();
            self.uploaded_pages = pages;
        }
        self.generation += 1;
        self.uploaded = Some(self.generation);
        self.device_steps = 0;
        Ok(Step {
            generation: self.generation,
            count,
            batch: ids.len(),
        })
    }

    /// Grows `ids[i]` by `counts[i]` tokens (pages reserved, nothing written: a benchmark's
    /// fill, or a prefill whose tokens the caller writes), then begins an attention-only step
    /// over all of `ids` and returns it. Each sequence grows to the next count in turn, those
    /// that grow more with it, so a ragged batch takes one step per distinct count. Out of
    /// pages is a typed error; the steps already taken stay.
    pub fn grow(&mut self, gpu: &Gpu, ids: &[SequenceId], counts: &[usize]) -> Result<Step> {
        if ids.len() != counts.len() {
            return Err(RuntimeError::Invalid(format!(
                "{} counts for {} sequences: give one per sequence",
                counts.len(),
                ids.len()
            )));
        }
        let mut levels = counts.to_vec();
        levels.sort_unstable();
        levels.dedup();
        let mut reached = 0;
        for level in levels.into_iter().filter(|&n| n > 0) {
            let growing: Vec<_> = ids
                .iter()
                .zip(counts)
                .filter(|&(_, &n)| n >= level)
                .map(|(&id, _)| id)
                .collect();
            self.begin_step(gpu, &growing, level - reached)?;
            reached = level;
        }
        self.begin_step(gpu, ids, 0)
    }

    /// Begins steps whose lengths advance on the GPU, for a CUDA graph replayed `horizon`
    /// times: reserves pages for `horizon` more tokens of each of `ids` (and copies a shared
    /// page they will write into), and uploads the tables with the current lengths. Each
    /// replayed step then runs [`Self::advance`] (captured: the device lengths count the
    /// step's token) before its appends, and the host calls [`Self::device_step_done`] after
    /// it. The step's handle stays valid across the horizon.
    pub fn begin_device_steps(
        &mut self,
        gpu: &Gpu,
        ids: &[SequenceId],
        horizon: usize,
    ) -> Result<Step> {
        if ids.is_empty() {
            return Err(RuntimeError::Invalid(
                "a step needs at least one sequence".into(),
            ));
        }
        let mut longest = 0;
        for &id in ids {
            longest = longest.max(self.table.len(id)?.saturating_add(horizon));
        }
        crate::view::as_i32("sequence length", [longest])?;
        let copies = self.table.reserve_ahead(ids, horizon)?;
        self.copy_pages(gpu, &copies)?;
        let host = self.table.batch(ids)?;
        crate::view::as_i32("page table size", [host.page_indices.len()])?;
        self.batch.set(gpu, &host)?;
        self.uploaded_batch = ids.to_vec();
        self.uploaded_pages = ids
            .iter()
            .map(|&id| Ok(self.table.pages(id)?.len()))
            .collect::<Result<Vec<_>>>()?;
        self.generation += 1;
        self.uploaded = Some(self.generation);
        self.device_steps = horizon;
        Ok(Step {
            generation: self.generation,
            count: 1,
            batch: ids.len(),
        })
    }

    /// One token more for every sequence of a device-advanced step, in stream order (before
    /// the step's appends; captured into the graph).
    pub fn advance(&mut self, gpu: &Gpu, appender: &VqAppend, step: &Step) -> Result<()> {
        self.check_step(step, 0)?;
        let entries = self.batch.batch();
        appender.advance_lengths(gpu, self.batch.seq_len_mut(), entries, 1)
    }

    /// The host's side of a device-advanced step that ran: its sequences are one token
    /// longer. Fails once the horizon [`Self::begin_device_steps`] reserved is used up.
    pub fn device_step_done(&mut self, step: &Step) -> Result<()> {
        self.check_step(step, 0)?;
        if self.device_steps == 0 {
            return Err(RuntimeError::Invalid(
                "the device steps' horizon is used up: begin new steps".into(),
            ));
        }
        let ids = self.uploaded_batch.clone();
        let copies = self.table.reserve(&ids, 1)?;
        debug_assert!(copies.is_empty(), "pages were reserved ahead");
        self.device_steps -= 1;
        let lengths = ids
            .iter()
            .map(|&id| self.table.len(id))
            .collect::<Result<Vec<_>>>()?;
        self.batch.lengths = lengths;
        Ok(())
    }

    /// One layer's code and fp16 buffers, to fill with anything (benchmarks): any bytes are
    /// safe to attend over, the kernels clamp what they index.
    pub fn contents_mut(&mut self, layer: usize) -> Result<crate::storage::Contents<'_>> {
        let layers = self.layers.len();
        self.layers
            .get_mut(layer)
            .map(|l| l.contents_mut())
            .ok_or_else(|| {
                RuntimeError::Invalid(format!(
                    "layer {layer} out of range: the cache has {layers} layers"
                ))
            })
    }

    /// Copy-on-write: each copy in every layer.
    fn copy_pages(&mut self, gpu: &Gpu, copies: &[crate::pages::PageCopy]) -> Result<()> {
        for copy in copies {
            for layer in &mut self.layers {
                layer.copy_page(gpu, copy.from as usize, copy.to as usize)?;
            }
        }
        Ok(())
    }

    fn check_step(&self, step: &Step, layer: usize) -> Result<()> {
        if self.uploaded != Some(step.generation) || step.generation != self.generation {
            return Err(RuntimeError::Invalid(
                "this step has ended (a sequence was added, removed or forked, or a newer step began): begin a new step".into(),
            ));
        }
        if layer >= self.layers.len() {
            return Err(RuntimeError::Invalid(format!(
                "layer {layer} out of range: the cache has {} layers",
                self.layers.len()
            )));
        }
        Ok(())
    }

    /// What the attention kernel reads for `layer` in `step`.
    pub fn view(&self, step: &Step, layer: usize) -> Result<CacheView<'_>> {
        self.check_step(step, layer)?;
        Ok(CacheView::new(&self.layers[layer], &self.batch))
    }

    /// What the append kernel writes for `layer` in `step` (it must append `step.count`).
    pub fn view_mut(&mut self, step: &Step, layer: usize) -> Result<CacheViewMut<'_>> {
        self.check_step(step, layer)?;
        let mut view = CacheViewMut::new(&mut self.layers[layer], &self.batch);
        view.appended = Some(step.count);
        Ok(view)
    }

    /// The step's new tokens of `layer`: `keys` and `values` are `[batch, kv_heads, count,
    /// head_dim]` f16.
    #[allow(clippy::too_many_arguments)]
    pub fn append(
        &mut self,
        gpu: &Gpu,
        appender: &VqAppend,
        step: &Step,
        layer: usize,
        keys: &CudaSlice<u16>,
        values: &CudaSlice<u16>,
    ) -> Result<()> {
        let view = self.view_mut(step, layer)?;
        appender.launch(gpu, view, keys, values, step.count)
    }

    /// A decode step (`step.count == 1`) whose new K and V the QKV projection writes into the
    /// slots itself ([`Self::token_slots`]): encodes the token that leaves each sequence's
    /// window, in every layer, in one launch. Run it after the step's lengths are on the
    /// device (the step began, or [`Self::advance`] ran) and before any layer's projection
    /// writes its slots. Needs a window (residual > 0).
    pub fn flush_window(&mut self, gpu: &Gpu, flush: &VqFlush, step: &Step) -> Result<()> {
        self.check_step(step, 0)?;
        if step.count != 1 {
            return Err(RuntimeError::Invalid(format!(
                "the window flush serves decode steps of one token per sequence; this step appends {}",
                step.count
            )));
        }
        flush.launch(gpu, &self.flush_table, &mut self.layers, &self.batch)
    }

    /// The slots of `layer` (fp16 or int8 rows, as the cache holds its window) as the target
    /// of a projection that writes the step's new K and V there itself, in place of
    /// [`Self::append`] (see [`Self::flush_window`]).
    pub fn token_slots(&mut self, step: &Step, layer: usize) -> Result<TokenSlots<'_>> {
        self.check_step(step, layer)?;
        let spec = *self.layers[layer].spec();
        let slots = self.layers[layer].slots();
        let seq_slot = self.batch.seq_slot();
        let contents = self.layers[layer].contents_mut();
        TokenSlots::new(
            contents.slot_keys,
            contents.slot_values,
            Some(seq_slot),
            SlotShape {
                slots,
                kv_heads: spec.kv_heads,
                capacity: spec.fp16_capacity(),
                head_dim: spec.head_dim,
                sinks: spec.window.sinks,
                residual: spec.window.residual,
                precision: spec.window.precision,
            },
        )
    }

    /// Attention of `query` (`[batch, q_heads, head_dim]` f16) over `layer` into `out`.
    #[allow(clippy::too_many_arguments)]
    pub fn attend(
        &self,
        gpu: &Gpu,
        attention: &VqAttention,
        step: &Step,
        layer: usize,
        query: &CudaSlice<u16>,
        out: &mut CudaSlice<u16>,
        workspace: &mut Workspace,
    ) -> Result<()> {
        attention.attend(gpu, self.view(step, layer)?, query, out, workspace)
    }

    /// The coded rows of (sequence, KV head) in `layer`, keys and values, in token order,
    /// gathered from its pages (for checks).
    pub fn download_rows(
        &self,
        gpu: &Gpu,
        layer: usize,
        id: SequenceId,
        kv_head: usize,
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        let storage = self.storage(layer)?;
        let spec = storage.spec();
        let (krow, vrow) = (spec.key_row_bytes(), spec.value_row_bytes());
        let coded = spec.coded_tokens(self.table.len(id)?);
        let page_tokens = self.table.page_tokens();
        let (mut keys, mut values) = (Vec::new(), Vec::new());
        let st = &gpu.stream;
        let in_use = coded.div_ceil(page_tokens);
        for (i, &page) in self.table.pages(id)?[..in_use].iter().enumerate() {
            let rows = (coded - i * page_tokens).min(page_tokens);
            let at = storage.paged_row(page as usize, kv_head, 0);
            keys.extend(st.clone_dtoh(&storage.key_codes.slice(at * krow..(at + rows) * krow))?);
            values
                .extend(st.clone_dtoh(&storage.value_codes.slice(at * vrow..(at + rows) * vrow))?);
        }
        Ok((keys, values))
    }

    /// The slots of (sequence, KV head) in `layer`, `[sinks + residual, head_dim]`, as the
    /// kernels read them (an int8 window's rows decoded), as fp16 bits.
    pub fn download_fp16(
        &self,
        gpu: &Gpu,
        layer: usize,
        id: SequenceId,
        kv_head: usize,
    ) -> Result<(Vec<u16>, Vec<u16>)> {
        self.storage(layer)?
            .download_slots(gpu, self.table.slot(id)?, kv_head)
    }

    fn storage(&self, layer: usize) -> Result<&LayerStorage> {
        self.layers.get(layer).ok_or_else(|| {
            RuntimeError::Invalid(format!(
                "layer {layer} out of range: the cache has {} layers",
                self.layers.len()
            ))
        })
    }

    /// One layer of random codes for timing: `shape.batch` sequences of `seq` tokens (the
    /// newest `residual` in fp16), pages handed out in a random order, pages to spare for
    /// `room` more tokens each, the tables of an attention-only step over all of them uploaded
    /// (see [`Self::timing_view`]).
    pub fn random(
        gpu: &Gpu,
        shape: DecodeShape,
        config: &KernelConfig,
        (seq, residual, room): (usize, usize, usize),
        seed: u64,
    ) -> Result<Self> {
        let lengths = vec![seq; shape.batch];
        Self::random_with_lengths(gpu, shape, config, (&lengths, residual, room), seed)
    }

    /// [`Self::random`] with a length per sequence: `lengths[b]` tokens in the `b`-th sequence
    /// added, the newest `residual` in fp16, pages for `room` more tokens of each.
    pub fn random_with_lengths(
        gpu: &Gpu,
        shape: DecodeShape,
        config: &KernelConfig,
        (lengths, residual, room): (&[usize], usize, usize),
        seed: u64,
    ) -> Result<Self> {
        crate::kv_cache::check_lengths(lengths, shape)?;
        let Some(page_tokens) = config.layout.page_tokens() else {
            return Err(RuntimeError::Invalid(format!(
                "{config}: a paged cache needs a paged kernel config"
            )));
        };
        let set = crate::verify::random_books(config, shape.kv_heads, shape.head_dim, seed);
        let params = set.layer(0, config.transform)?;
        let longest = lengths.iter().copied().max().unwrap_or(0);
        let window = CacheLayout {
            sinks: 0,
            residual: residual.min(longest),
            ..CacheLayout::default()
        };
        let pages = lengths
            .iter()
            .map(|&n| (n.saturating_sub(window.residual) + room).div_ceil(page_tokens))
            .sum::<usize>()
            .max(1);
        let mut cache = Self::new(
            gpu,
            &[params],
            PagedCacheOptions {
                page_tokens,
                pool: PoolSize::Pages(pages),
                max_sequences: shape.batch,
                window,
                shuffle_seed: Some(seed),
            },
        )?;
        let ids = (0..shape.batch)
            .map(|_| cache.add_sequence())
            .collect::<Result<Vec<_>>>()?;
        cache.grow(gpu, &ids, lengths)?;
        Filler(seed).fill(gpu, &mut cache.layers[0])?;
        Ok(cache)
    }

    /// One layer with the state of a CPU reference cache: sequence `b` of `cpu` is the `b`-th
    /// sequence added, its coded rows scattered over pages handed out in a random order
    /// (`seed`), `spare_pages` more pages free; the tables of an attention-only step over all
    /// of them uploaded (see [`Self::timing_view`]). Used to check paged kernels against the
    /// reference.
    pub fn from_reference(
        gpu: &Gpu,
        cpu: &ReferenceKvCache<'_>,
        page_tokens: usize,
        seed: u64,
        spare_pages: usize,
    ) -> Result<Self> {
        let shape = cpu.shape();
        let window = cpu.layout();
        let coded = |s: usize| cpu.quantized_len(s);
        let pages: usize = (0..shape.batch)
            .map(|s| coded(s).div_ceil(page_tokens))
            .sum::<usize>()
            + spare_pages;
        let mut cache = Self::new(
            gpu,
            &[*cpu.params()],
            PagedCacheOptions {
                page_tokens,
                pool: PoolSize::Pages(pages.max(1)),
                max_sequences: shape.batch,
                window,
                shuffle_seed: Some(seed),
            },
        )?;
        let ids = (0..shape.batch)
            .map(|_| cache.add_sequence())
            .collect::<Result<Vec<_>>>()?;
        for (s, &id) in ids.iter().enumerate() {
            cache.table.reserve(&[id], cpu.len(s))?;
        }
        let storage = &cache.layers[0];
        let spec = *storage.spec();
        let (d, krow, vrow) = (spec.head_dim, spec.key_row_bytes(), spec.value_row_bytes());
        let mut key_codes = vec![0u8; storage.key_codes.len()];
        let mut value_codes = vec![0u8; storage.value_codes.len()];
        let slots = spec.slot_layout(storage.slots());
        let mut slot_keys = vec![0u16; slots.len()];
        let mut slot_values = vec![0u16; slots.len()];
        for (s, &id) in ids.iter().enumerate() {
            let sinks = cpu.sink_len(s);
            let slot = cache.table.slot(id)?;
            for h in 0..shape.kv_heads {
                let (k, v) = (cpu.key_codes(s, h), cpu.value_codes(s, h));
                for (r, (krow_bytes, vrow_bytes)) in
                    k.chunks_exact(krow).zip(v.chunks_exact(vrow)).enumerate()
                {
                    let page = cache.table.pages(id)?[r / page_tokens] as usize;
                    let at = storage.paged_row(page, h, r % page_tokens);
                    key_codes[at * krow..(at + 1) * krow].copy_from_slice(krow_bytes);
                    value_codes[at * vrow..(at + 1) * vrow].copy_from_slice(vrow_bytes);
                }
                let (fk, fv) = (cpu.fp16_keys(s, h), cpu.fp16_values(s, h));
                let scales = cpu.slot_scales(s, h);
                for (n, (k, v)) in fk.chunks_exact(d).zip(fv.chunks_exact(d)).enumerate() {
                    let index = storage.fp16_row(slot, h, spec.fp16_slot(n, sinks, coded(s)));
                    let (ks, vs) = scales.get(n).copied().unzip();
                    slots.put(&mut slot_keys, index, k, ks);
                    slots.put(&mut slot_values, index, v, vs);
                }
            }
        }
        let st = &gpu.stream;
        let storage = &mut cache.layers[0];
        st.memcpy_htod(&key_codes, &mut storage.key_codes)?;
        st.memcpy_htod(&value_codes, &mut storage.value_codes)?;
        st.memcpy_htod(&slot_keys, &mut storage.slot_keys)?;
        st.memcpy_htod(&slot_values, &mut storage.slot_values)?;
        cache.begin_step(gpu, &ids, 0)?;
        Ok(cache)
    }

    /// The first layer as the current step's tables describe it, for timing or checking a
    /// kernel on a cache made by [`Self::random`] or [`Self::from_reference`].
    pub fn timing_view(&self) -> Result<CacheView<'_>> {
        let generation = self.uploaded.filter(|&g| g == self.generation);
        let step = Step {
            generation: generation.ok_or_else(|| {
                RuntimeError::Invalid("the cache has no current step to time".into())
            })?,
            count: 0,
            batch: self.batch.batch(),
        };
        self.view(&step, 0)
    }

    /// Bytes one decode step over the current tables reads: codes and fp16 tokens.
    pub fn bytes_per_step(&self, config: &KernelConfig) -> usize {
        let spec = self.spec();
        step_bytes(
            config,
            spec,
            self.batch.lengths().iter().map(|&n| spec.coded_tokens(n)),
            self.batch.batch(),
        )
    }
}
