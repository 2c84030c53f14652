//! What a launch reads: one layer's storage and the batch tables of the step.
//!
//! A batch is any list of live sequences. For each batch entry the kernels read, from device
//! int32 arrays:
//! - `seq_len[b]`: its tokens, this step's appended ones included;
//! - `seq_slot[b]`: its sequence slot (its fp16 sinks and window; in the contiguous layout
//!   also its code region);
//! - paged layout: its pages `page_indices[page_indptr[b] .. page_indptr[b + 1]]`, in row order
//!   (FlashInfer's CSR form; coded row `r` is row `r % page_tokens` of the entry's page
//!   `r / page_tokens`, and coded row `r` is token `sinks + r`).
//!
//! [`DeviceBatch`] is the runtime's own copy of these tables; an engine that manages its pages
//! passes its own arrays as an [`ExternalBatch`]. The kernels clamp every index they read from
//! the tables into the buffers, so wrong tables give wrong numbers but never an access outside
//! the cache: the API is safe either way.

use crate::error::{Result, RuntimeError};
use crate::gpu::Gpu;
use crate::storage::{CacheGeometry, LayerStorage};
use cudarc::driver::{CudaSlice, CudaView, CudaViewMut};
use vecinfer_codegen::CodeLayout;

/// The runtime's batch tables on the device, with the host's copy of the lengths (the launch
/// geometry depends on the longest sequence).
///
/// The four tables live in one device buffer, `[seq_len | seq_slot | page_indptr |
/// page_indices]`: one copy uploads them all, and a step that only lengthens sequences
/// uploads only `seq_len` (see [`DeviceBatch::set_lengths`]).
pub struct DeviceBatch {
    tables: CudaSlice<i32>,
    pub(crate) lengths: Vec<usize>,
    index_count: usize,
}

pub(crate) fn as_i32(what: &str, values: impl IntoIterator<Item = usize>) -> Result<Vec<i32>> {
    values
        .into_iter()
        .map(|x| {
            i32::try_from(x).map_err(|_| {
                RuntimeError::Invalid(format!(
                    "{what} {x} does not fit the kernels' 32-bit indices"
                ))
            })
        })
        .collect()
}

/// A batch's tables on the host, ready to upload.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostBatch {
    pub lengths: Vec<usize>,
    pub slots: Vec<usize>,
    /// Paged layout: `[batch + 1]`.
    pub page_indptr: Vec<usize>,
    pub page_indices: Vec<usize>,
}

impl DeviceBatch {
    pub(crate) fn new(gpu: &Gpu, host: &HostBatch) -> Result<Self> {
        let mut batch = Self {
            tables: gpu.stream.alloc_zeros(64)?,
            lengths: Vec::new(),
            index_count: 0,
        };
        batch.set(gpu, host)?;
        Ok(batch)
    }

    /// Where each table starts in the buffer, and where the last one ends.
    fn offsets(&self) -> [usize; 4] {
        let b = self.lengths.len();
        [b, 2 * b, 3 * b + 1, 3 * b + 1 + self.index_count.max(1)]
    }

    /// Replaces the tables.
    pub(crate) fn set(&mut self, gpu: &Gpu, host: &HostBatch) -> Result<()> {
        let b = host.lengths.len();
        let mut packed = as_i32("length", host.lengths.iter().copied())?;
        packed.extend(as_i32("slot", host.slots.iter().copied())?);
        packed.resize(2 * b, 0);
        let indptr = as_i32("page table offset", host.page_indptr.iter().copied())?;
        packed.extend(&indptr);
        packed.resize(3 * b + 1, 0);
        packed.extend(as_i32("page", host.page_indices.iter().copied())?);
        packed.push(0); // an index table is never empty
        if packed.len() > self.tables.len() {
            self.tables = gpu.stream.alloc_zeros(packed.len().next_power_of_two())?;
        }
        gpu.stream
            .memcpy_htod(&packed, &mut self.tables.slice_mut(0..packed.len()))?;
        self.lengths.clone_from(&host.lengths);
        self.index_count = host.page_indices.len();
        Ok(())
    }

    /// Replaces only the lengths (same batch, slots and pages): a copy of `4 × batch` bytes.
    pub(crate) fn set_lengths(&mut self, gpu: &Gpu, lengths: &[usize]) -> Result<()> {
        if lengths.len() != self.lengths.len() {
            return Err(RuntimeError::Invalid(format!(
                "{} lengths for a batch of {}",
                lengths.len(),
                self.lengths.len()
            )));
        }
        let packed = as_i32("length", lengths.iter().copied())?;
        gpu.stream
            .memcpy_htod(&packed, &mut self.tables.slice_mut(0..packed.len()))?;
        self.lengths = lengths.to_vec();
        Ok(())
    }

    pub fn batch(&self) -> usize {
        self.lengths.len()
    }

    pub fn lengths(&self) -> &[usize] {
        &self.lengths
    }

    /// The device lengths, to advance them in place.
    pub(crate) fn seq_len_mut(&mut self) -> CudaViewMut<'_, i32> {
        let b = self.lengths.len();
        self.tables.slice_mut(0..b.max(1))
    }

    /// The sequence-slot table, `[batch]`.
    pub(crate) fn seq_slot(&self) -> CudaView<'_, i32> {
        self.as_ref().seq_slot
    }

    fn as_ref(&self) -> BatchRef<'_> {
        let [slot, indptr, indices, end] = self.offsets();
        BatchRef {
            seq_len: self.tables.slice(0..slot.max(1)),
            seq_slot: self.tables.slice(slot..indptr.max(slot + 1)),
            page_indptr: self.tables.slice(indptr..indices),
            page_indices: self.tables.slice(indices..end),
            batch: self.lengths.len(),
            longest: self.lengths.iter().copied().max().unwrap_or(0),
            lengths: Some(&self.lengths),
            index_count: self.index_count,
        }
    }

    pub(crate) fn bytes(&self) -> usize {
        4 * self.tables.len()
    }
}

/// An engine's own batch tables (device int32 arrays, see the module docs), for a
/// [`LayerStorage`] whose pages and slots the engine manages.
pub struct ExternalBatch<'a> {
    /// `[batch]`: each entry's tokens, this step's appended ones included.
    pub seq_len: &'a CudaSlice<i32>,
    /// `[batch]`: each entry's sequence slot.
    pub seq_slot: &'a CudaSlice<i32>,
    /// `[batch + 1]` (paged layout; ignored for the contiguous one).
    pub page_indptr: &'a CudaSlice<i32>,
    /// The pages of every entry, in row order (paged layout).
    pub page_indices: &'a CudaSlice<i32>,
    pub batch: usize,
    /// No entry has more tokens than this: it sizes the launch (the split plan). An entry that
    /// has more gets NaN outputs rather than silently dropped tokens.
    pub max_seq_len: usize,
}

pub(crate) struct BatchRef<'a> {
    pub(crate) seq_len: CudaView<'a, i32>,
    pub(crate) seq_slot: CudaView<'a, i32>,
    pub(crate) page_indptr: CudaView<'a, i32>,
    pub(crate) page_indices: CudaView<'a, i32>,
    pub(crate) batch: usize,
    /// Tokens of the longest entry.
    pub(crate) longest: usize,
    /// Every entry's tokens, where the host knows them (not for an engine's own tables).
    pub(crate) lengths: Option<&'a [usize]>,
    pub(crate) index_count: usize,
}

impl<'a> ExternalBatch<'a> {
    fn checked(&self, layout: CodeLayout) -> Result<BatchRef<'a>> {
        let need = |what: &'static str, buffer: &CudaSlice<i32>, n: usize, rule: &str| {
            if buffer.len() < n {
                Err(RuntimeError::BufferLength {
                    what,
                    expected: format!("at least {n} ({rule})"),
                    got: buffer.len(),
                })
            } else {
                Ok(())
            }
        };
        if self.batch == 0 {
            return Err(RuntimeError::Invalid(
                "a batch needs at least one entry".into(),
            ));
        }
        need("seq_len", self.seq_len, self.batch, "batch")?;
        need("seq_slot", self.seq_slot, self.batch, "batch")?;
        if layout != CodeLayout::Contiguous {
            need("page_indptr", self.page_indptr, self.batch + 1, "batch + 1")?;
            need("page_indices", self.page_indices, 1, "one page at least")?;
        }
        as_i32("max_seq_len", [self.max_seq_len])?;
        Ok(BatchRef {
            seq_len: self.seq_len.as_view(),
            seq_slot: self.seq_slot.as_view(),
            page_indptr: self.page_indptr.as_view(),
            page_indices: self.page_indices.as_view(),
            batch: self.batch,
            longest: self.max_seq_len,
            lengths: None,
            index_count: self.page_indices.len(),
        })
    }
}

/// One layer of a cache and a batch: what the attention kernel reads.
pub struct CacheView<'a> {
    pub(crate) storage: &'a LayerStorage,
    pub(crate) batch: BatchRef<'a>,
}

/// One layer of a cache and a batch: what the append kernel writes.
pub struct CacheViewMut<'a> {
    pub(crate) storage: &'a mut LayerStorage,
    pub(crate) batch: BatchRef<'a>,
    /// Tokens per entry the tables count as appended by this launch, where the owner knows.
    pub(crate) appended: Option<usize>,
}

impl<'a> CacheView<'a> {
    /// Another view of the same layer and batch (e.g. to launch over it again).
    pub fn reborrow(&self) -> CacheView<'_> {
        let b = &self.batch;
        CacheView {
            storage: self.storage,
            batch: BatchRef {
                seq_len: b.seq_len.slice(..),
                seq_slot: b.seq_slot.slice(..),
                page_indptr: b.page_indptr.slice(..),
                page_indices: b.page_indices.slice(..),
                batch: b.batch,
                longest: b.longest,
                lengths: b.lengths,
                index_count: b.index_count,
            },
        }
    }

    pub(crate) fn new(storage: &'a LayerStorage, batch: &'a DeviceBatch) -> Self {
        Self {
            storage,
            batch: batch.as_ref(),
        }
    }

    /// An engine's storage with its own tables.
    pub fn external(storage: &'a LayerStorage, batch: &ExternalBatch<'a>) -> Result<Self> {
        Ok(Self {
            batch: batch.checked(storage.spec().layout)?,
            storage,
        })
    }

    pub fn storage(&self) -> &LayerStorage {
        self.storage
    }

    pub fn batch(&self) -> usize {
        self.batch.batch
    }

    /// Coded rows of the longest entry.
    pub fn longest_coded(&self) -> usize {
        self.storage.spec().coded_tokens(self.batch.longest)
    }

    /// Every entry's tokens, where the host knows them (not over an engine's own tables, whose
    /// lengths live on the device only).
    pub fn lengths(&self) -> Option<&[usize]> {
        self.batch.lengths
    }

    /// Coded rows of every entry, where the host knows the lengths.
    pub fn coded_lengths(&self) -> Option<Vec<usize>> {
        let spec = self.storage.spec();
        Some(
            self.lengths()?
                .iter()
                .map(|&n| spec.coded_tokens(n))
                .collect(),
        )
    }

    pub(crate) fn geometry(&self) -> CacheGeometry {
        self.storage.geometry(self.batch.index_count)
    }
}

impl<'a> CacheViewMut<'a> {
    pub(crate) fn new(storage: &'a mut LayerStorage, batch: &'a DeviceBatch) -> Self {
        Self {
            storage,
            batch: batch.as_ref(),
            appended: None,
        }
    }

    /// An engine's storage with its own tables; `seq_len` counts the tokens being appended.
    pub fn external(storage: &'a mut LayerStorage, batch: &ExternalBatch<'a>) -> Result<Self> {
        let batch = batch.checked(storage.spec().layout)?;
        Ok(Self {
            storage,
            batch,
            appended: None,
        })
    }

    pub(crate) fn geometry(&self) -> CacheGeometry {
        self.storage.geometry(self.batch.index_count)
    }
}
