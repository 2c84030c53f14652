//! Quantize-and-append on the GPU: new tokens into a cache by the CPU reference's rules (sinks,
//! fp16 window, flush of the oldest window token into codes), and bulk prefill.

use crate::compile::compile;
use crate::dependent_launch::{self, Buffers, KernelArg};
use crate::error::{Result, RuntimeError};
use crate::gpu::Gpu;
use crate::view::CacheViewMut;
use cudarc::driver::{
    CudaFunction, CudaSlice, CudaViewMut, DevicePtr, DevicePtrMut, LaunchConfig, PushKernelArg,
};
use vecinfer_codegen::append::{
    AppendEntry, FLUSH_BLOCKS_PER_LAYER, FLUSH_LAYER_POINTERS, append_rows, append_warps_per_row,
};
use vecinfer_codegen::{EmittedAppend, EmittedFlush, KernelConfig, emit_append, emit_flush};

/// One compiled entry of the append module and how many of its blocks an SM holds.
struct AppendFunction {
    entry: AppendEntry,
    function: CudaFunction,
    resident_blocks: u32,
}

pub struct VqAppend {
    pub kernel: EmittedAppend,
    config: KernelConfig,
    functions: Vec<AppendFunction>,
    sm_count: u32,
    /// Warps per row forced by [`Self::set_warps_per_row`]; `None`: chosen per launch.
    warps_per_row: Option<u32>,
    advance: CudaFunction,
    /// Launch the append as a programmatic dependent (see [`Self::set_dependent_launches`]).
    dependent: bool,
}

impl VqAppend {
    /// Generates and compiles (cached) the append kernel for the cache layout of `config`.
    pub fn new(gpu: &Gpu, config: &KernelConfig) -> Result<Self> {
        let kernel = emit_append(config)?;
        let cubin = compile(&kernel.source, gpu.arch, kernel.entry())?;
        let module = gpu.context.load_module(cubin)?;
        let functions = kernel
            .entries
            .iter()
            .map(|entry| {
                let function = module.load_function(&entry.name)?;
                let resident_blocks = function.occupancy_max_active_blocks_per_multiprocessor(
                    kernel.block_threads,
                    0,
                    None,
                )?;
                Ok(AppendFunction {
                    entry: entry.clone(),
                    function,
                    resident_blocks,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let advance = module.load_function(vecinfer_codegen::append::ADVANCE_ENTRY)?;
        Ok(Self {
            kernel,
            config: *config,
            functions,
            sm_count: gpu.sm_count,
            warps_per_row: None,
            advance,
            dependent: false,
        })
    }

    /// The warps per row this kernel offers: 8 (a block per row) always, and 4, 2 and 1 where
    /// both codebooks are held in registers (up to 256 entries).
    pub fn warps_per_row_choices(&self) -> Vec<u32> {
        self.functions
            .iter()
            .map(|f| f.entry.warps_per_row)
            .collect()
    }

    /// Forces the warps that encode each row (one side of one new token of one sequence and KV
    /// head), e.g. to time or test each; `None` (the default) picks per launch: the most warps
    /// whose blocks fit one wave on this GPU. A count the kernel does not offer is an error
    /// that lists the ones it does, and changes nothing.
    pub fn set_warps_per_row(&mut self, warps: Option<u32>) -> Result<()> {
        if let Some(w) = warps
            && !self.functions.iter().any(|f| f.entry.warps_per_row == w)
        {
            return Err(RuntimeError::Invalid(format!(
                "the append kernel of {} encodes a row with one of {:?} warps, not {w}",
                self.config,
                self.warps_per_row_choices()
            )));
        }
        self.warps_per_row = warps;
        Ok(())
    }

    /// The entry a launch of `rows` rows runs.
    fn function_for(&self, rows: u64) -> &AppendFunction {
        match self.warps_per_row {
            Some(w) => self
                .functions
                .iter()
                .find(|f| f.entry.warps_per_row == w)
                .expect("checked by set_warps_per_row"),
            None => {
                let chosen = append_warps_per_row(&self.kernel.entries, rows, self.sm_count, |e| {
                    self.resident_blocks(e.warps_per_row)
                });
                self.functions
                    .iter()
                    .find(|f| f.entry == *chosen)
                    .expect("chosen from these entries")
            }
        }
    }

    fn resident_blocks(&self, warps_per_row: u32) -> u32 {
        self.functions
            .iter()
            .find(|f| f.entry.warps_per_row == warps_per_row)
            .map_or(1, |f| f.resident_blocks)
    }

    /// The warps per row a launch of `count` tokens to `entries` sequences of `kv_heads` KV
    /// heads runs with.
    pub fn warps_per_row_for(&self, count: usize, kv_heads: usize, entries: usize) -> u32 {
        self.function_for(append_rows(count, kv_heads, entries))
            .entry
            .warps_per_row
    }

    /// Launches the append as a programmatic dependent of the stream's previous kernel (sm_90
    /// and later; off by default): it loads its codebook while that kernel (e.g. the K/V
    /// projection) finishes, and waits in `griddepcontrol.wait` before it reads anything else.
    /// Fails, changing nothing, on a GPU older than sm_90.
    pub fn set_dependent_launches(&mut self, gpu: &Gpu, on: bool) -> Result<()> {
        self.dependent = dependent_launch::checked_setting(gpu, on)?;
        Ok(())
    }

    pub fn dependent_launches(&self) -> bool {
        self.dependent
    }

    pub fn config(&self) -> &KernelConfig {
        &self.config
    }

    /// Appends `count` tokens to every batch entry of `view`, whose `seq_len` already counts
    /// them: `keys` and `values` are `[batch, kv_heads, count, head_dim]` f16. `count = 1` is a
    /// decode step; a larger count is a (chunked) prefill. The kernel is checked against the
    /// cache first. Pages must already be in the entries' tables (the caches' owners see to it).
    pub fn launch<'a>(
        &self,
        gpu: &Gpu,
        view: impl Into<CacheViewMut<'a>>,
        keys: &CudaSlice<u16>,
        values: &CudaSlice<u16>,
        count: usize,
    ) -> Result<()> {
        self.launch_as(gpu, view, keys, values, count, self.dependent)
    }

    /// [`Self::launch`] with the dependent-launch setting given: the contiguous cache passes
    /// `true` on sm_90 right after this module's [`Self::advance_lengths`], which waits for
    /// everything before it and lets the append start and load its codebook while the lengths
    /// advance, whatever [`Self::set_dependent_launches`] says.
    pub(crate) fn launch_as<'a>(
        &self,
        gpu: &Gpu,
        view: impl Into<CacheViewMut<'a>>,
        keys: &CudaSlice<u16>,
        values: &CudaSlice<u16>,
        count: usize,
        dependent: bool,
    ) -> Result<()> {
        let view = view.into();
        let geometry = view.geometry();
        let CacheViewMut {
            storage,
            batch,
            appended,
        } = view;
        if let Some(expected) = appended
            && expected != count
        {
            return Err(RuntimeError::Invalid(format!(
                "the step counts {expected} new tokens per sequence, the append brings {count}"
            )));
        }
        let spec = *storage.spec();
        spec.check(&self.config)?;
        let (entries, kv_heads, d) = (batch.batch, spec.kv_heads, spec.head_dim);
        let elements = entries * kv_heads * count * d;
        if count == 0 {
            return Err(RuntimeError::Invalid(
                "an append needs at least one token per sequence (count ≥ 1)".into(),
            ));
        }
        for (what, buffer) in [("keys", keys.len()), ("values", values.len())] {
            if buffer != elements {
                return Err(RuntimeError::BufferLength {
                    what,
                    expected: format!(
                        "batch × kv_heads × count × head_dim = {entries} × {kv_heads} × {count} × {d} = {elements}"
                    ),
                    got: buffer,
                });
            }
        }
        let rows = append_rows(count, kv_heads, entries);
        if rows > i32::MAX as u64 {
            return Err(RuntimeError::Invalid(format!(
                "an append launch encodes at most {} rows (2 × count × kv_heads × batch), got 2 × {count} × {kv_heads} × {entries}",
                i32::MAX
            )));
        }
        if rows == 0 {
            return Ok(()); // an empty batch: nothing to encode
        }
        let count_i = count as i32;
        let e = &storage.encoder;
        let stream = &gpu.stream;
        let mut b = Buffers::default();
        let args = [
            b.add(keys.device_ptr(stream)),
            b.add(values.device_ptr(stream)),
            KernelArg::Int(count_i),
            b.add(e.key_centroids.device_ptr(stream)),
            b.add(e.key_norms.device_ptr(stream)),
            b.add(e.value_centroids.device_ptr(stream)),
            b.add(e.value_norms.device_ptr(stream)),
            b.add(storage.smooth.device_ptr(stream)),
            b.add(storage.key_codes.device_ptr_mut(stream)),
            b.add(storage.value_codes.device_ptr_mut(stream)),
            b.add(storage.slot_keys.device_ptr_mut(stream)),
            b.add(storage.slot_values.device_ptr_mut(stream)),
            b.add(batch.seq_len.device_ptr(stream)),
            b.add(batch.seq_slot.device_ptr(stream)),
            b.add(batch.page_indptr.device_ptr(stream)),
            b.add(batch.page_indices.device_ptr(stream)),
            KernelArg::Geometry(geometry),
            KernelArg::Int(kv_heads as i32),
            KernelArg::Int(entries as i32),
        ];
        let chosen = self.function_for(rows);
        let config = LaunchConfig {
            grid_dim: (chosen.entry.blocks(rows) as u32, 1, 1),
            block_dim: (self.kernel.block_threads, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: the arguments match the generated signature in type and order (codegen's
        // `emit_append`). The kernel was checked against the storage's spec, so its row sizes,
        // codebook sizes and layout are the storage's; the kernel clamps every table index
        // into the storage's geometry and writes nothing for an entry whose length is smaller
        // than `count`; the new keys and values hold `batch × kv_heads × count × head_dim`
        // values (checked above); the grid covers the rows, each block skips those past
        // `2 × count × kv_heads × entries` (at most i32::MAX, checked above); `b` holds every
        // buffer.
        unsafe { dependent_launch::launch(stream, &chosen.function, config, &args, b, dependent) }?;
        Ok(())
    }

    /// Adds `count` to the first `entries` lengths of `seq_len` on the device, in stream order:
    /// a cache that keeps its lengths on the GPU advances them before the append of a step.
    pub(crate) fn advance_lengths(
        &self,
        gpu: &Gpu,
        mut seq_len: CudaViewMut<'_, i32>,
        entries: usize,
        count: usize,
    ) -> Result<()> {
        if entries > seq_len.len() {
            return Err(RuntimeError::BufferLength {
                what: "seq_len",
                expected: format!("at least {entries}"),
                got: seq_len.len(),
            });
        }
        let (entries_i, count_i) = (entries as i32, count as i32);
        let mut launch = gpu.stream.launch_builder(&self.advance);
        launch.arg(&mut seq_len).arg(&entries_i).arg(&count_i);
        let config = LaunchConfig {
            grid_dim: ((entries as u32).div_ceil(256).max(1), 1, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: `advance_lengths(int* seq_len, int entries, int count)` in the append
        // module; it touches `seq_len[0 .. entries)`, which the buffer holds (checked above).
        unsafe { launch.launch(config) }?;
        Ok(())
    }
}

/// The window flush of a decode step over every layer of a cache in one launch
/// (`vecinfer_codegen::emit_flush`): for an engine whose QKV projection writes the step's new K
/// and V into the slots itself ([`crate::TokenSlots`]), so that no append runs per layer.
/// Launched through [`crate::PagedKvCache::flush_window`].
pub struct VqFlush {
    pub kernel: EmittedFlush,
    config: KernelConfig,
    function: CudaFunction,
    dependent: bool,
}

impl VqFlush {
    /// Generates and compiles (cached) the flush kernel for the cache layout of `config`.
    pub fn new(gpu: &Gpu, config: &KernelConfig) -> Result<Self> {
        let kernel = emit_flush(config)?;
        let cubin = compile(&kernel.source, gpu.arch, &kernel.entry)?;
        let module = gpu.context.load_module(cubin)?;
        let function = module.load_function(&kernel.entry)?;
        Ok(Self {
            kernel,
            config: *config,
            function,
            dependent: false,
        })
    }

    /// As [`VqAppend::set_dependent_launches`].
    pub fn set_dependent_launches(&mut self, gpu: &Gpu, on: bool) -> Result<()> {
        self.dependent = dependent_launch::checked_setting(gpu, on)?;
        Ok(())
    }

    pub fn config(&self) -> &KernelConfig {
        &self.config
    }

    /// `table` holds [`FLUSH_LAYER_POINTERS`] addresses per layer of `layers` (the cache built
    /// it from these storages); `batch` the step's tables, its lengths advanced.
    pub(crate) fn launch(
        &self,
        gpu: &Gpu,
        table: &CudaSlice<u64>,
        layers: &mut [crate::storage::LayerStorage],
        batch: &crate::view::DeviceBatch,
    ) -> Result<()> {
        let first = layers
            .first()
            .ok_or_else(|| RuntimeError::Invalid("a flush needs at least one layer".into()))?;
        let spec = *first.spec();
        spec.check(&self.config)?;
        if spec.window.residual == 0 {
            return Err(RuntimeError::Invalid(
                "the window flush needs a window (residual > 0): without one a new token is encoded as it arrives, by the append kernel".into(),
            ));
        }
        if table.len() != layers.len() * FLUSH_LAYER_POINTERS {
            return Err(RuntimeError::BufferLength {
                what: "flush layer table",
                expected: format!(
                    "{FLUSH_LAYER_POINTERS} addresses per layer × {} layers",
                    layers.len()
                ),
                got: table.len(),
            });
        }
        let entries = batch.batch();
        if entries == 0 || entries > 65_535 || layers.len() > 32_767 {
            return Err(RuntimeError::Invalid(format!(
                "a flush launch takes 1 to 65535 sequences and at most 32767 layers (grid limits), got {entries} and {}",
                layers.len()
            )));
        }
        let view = crate::view::CacheView::new(first, batch);
        let geometry = view.geometry();
        let tables = view.batch;
        let stream = &gpu.stream;
        // The table holds the storages' own addresses: the cache built it when it allocated
        // them, and no API hands a storage's buffers out to be replaced (`contents_mut` gives
        // views). Borrowing the storages mutably keeps other launches through this cache out
        // while this one is queued; cudarc records no events for the table's addresses, so
        // the flush relies on stream order (the engine runs one stream).
        let mut b = Buffers::default();
        let args = [
            b.add(table.device_ptr(stream)),
            KernelArg::Int(layers.len() as i32),
            b.add(tables.seq_len.device_ptr(stream)),
            b.add(tables.seq_slot.device_ptr(stream)),
            b.add(tables.page_indptr.device_ptr(stream)),
            b.add(tables.page_indices.device_ptr(stream)),
            KernelArg::Geometry(geometry),
            KernelArg::Int(entries as i32),
        ];
        let config = LaunchConfig {
            grid_dim: (
                layers.len() as u32 * FLUSH_BLOCKS_PER_LAYER,
                spec.kv_heads as u32,
                (entries as u32).div_ceil(self.kernel.rows_per_block),
            ),
            block_dim: (self.kernel.block_threads, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: the arguments match the generated signature in type and order (codegen's
        // `emit_flush`). `table` holds, per layer, the addresses of that layer's storage (the
        // cache built it when it allocated them; storages are never reallocated), every layer
        // has the spec checked against the kernel above (the cache requires one spec for all),
        // so row sizes, codebook sizes and layout are the kernel's; the kernel clamps every
        // table index into the geometry, which every layer shares.
        unsafe {
            dependent_launch::launch(stream, &self.function, config, &args, b, self.dependent)
        }?;
        Ok(())
    }
}

/// The flush kernel's table entry of `storage`: its nine addresses in `FlushLayer`'s order.
pub(crate) fn flush_layer_pointers(
    gpu: &Gpu,
    storage: &crate::storage::LayerStorage,
) -> [u64; FLUSH_LAYER_POINTERS] {
    let st = &gpu.stream;
    let e = &storage.encoder;
    let address = |p: (u64, _)| p.0;
    [
        address(e.key_centroids.device_ptr(st)),
        address(e.key_norms.device_ptr(st)),
        address(e.value_centroids.device_ptr(st)),
        address(e.value_norms.device_ptr(st)),
        address(storage.smooth.device_ptr(st)),
        address(storage.key_codes.device_ptr(st)),
        address(storage.value_codes.device_ptr(st)),
        address(storage.slot_keys.device_ptr(st)),
        address(storage.slot_values.device_ptr(st)),
    ]
}
