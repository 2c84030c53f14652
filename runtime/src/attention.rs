//! The fused VQ decode attention: a compiled kernel pair (attention + split merge) and its
//! launch. A plan of one piece per entry (stride 1) runs the attention alone: it writes the
//! output itself.

use crate::compile::compile;
use crate::dependent_launch::{self, Buffers, KernelArg};
use crate::error::{Result, RuntimeError};
use crate::gpu::Gpu;
use crate::view::CacheView;
use cudarc::driver::sys::CUfunction_attribute;
use cudarc::driver::{CudaFunction, CudaSlice, DevicePtr, DevicePtrMut, LaunchConfig};
use vecinfer_codegen::{EmittedKernel, KernelConfig, SplitPolicy, emit};

pub struct VqAttention {
    pub kernel: EmittedKernel,
    attention: CudaFunction,
    merge: CudaFunction,
    /// Blocks of the attention kernel one SM holds at once (registers, shared memory), as
    /// the occupancy API reports it: 0 means a block does not fit.
    pub blocks_per_sm: u32,
    /// Launch both kernels as programmatic dependents (see [`Self::set_dependent_launches`]).
    dependent: bool,
}

/// Scratch for the split merge, sized for the largest launch so far, and the work list's table
/// of the last plan launched (see [`SplitPlan`]).
#[derive(Default)]
pub struct Workspace {
    partial_out: Option<CudaSlice<f32>>,
    partial_max: Option<CudaSlice<f32>>,
    partial_sum: Option<CudaSlice<f32>>,
    rows: usize,
    table: Option<CudaSlice<i32>>,
    /// The plan whose table `table` holds.
    held: Option<SplitPlan>,
    /// The number of `held`'s upload (from `UPLOADS`, shared by every workspace): in the
    /// table's header and passed by each launch, so that a CUDA graph replayed after another
    /// plan's upload writes NaN (`batch_pieces.cuh`).
    generation: u32,
    /// A plan was uploaded for a CUDA graph (`VqAttention::prepare_plan`): the buffers may not
    /// grow, since a graph captured over them keeps their addresses.
    fixed: bool,
}

/// Plan uploads in this process, numbering each (see `Workspace::generation`).
static UPLOADS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl Workspace {
    /// Fills the partial results with NaN, so that a merge that read a split this launch did
    /// not write would give NaN (a check for tests).
    pub fn poison_partials(&mut self, gpu: &Gpu) -> Result<()> {
        for buffer in [
            &mut self.partial_out,
            &mut self.partial_max,
            &mut self.partial_sum,
        ]
        .into_iter()
        .flatten()
        {
            let nan = vec![f32::NAN; buffer.len()];
            gpu.stream.memcpy_htod(&nan, buffer)?;
        }
        Ok(())
    }

    /// Scratch for `rows` (batch × query heads × the plan's most pieces of a sequence, see
    /// [`VqAttention::max_splits`]) partial rows of `head_dim`, and for the table of any plan
    /// that fits them, allocated now: launches that fit never allocate (a CUDA graph capture
    /// must not).
    pub fn with_capacity(gpu: &Gpu, rows: usize, head_dim: usize) -> Result<Self> {
        let rows = rows.max(1);
        Ok(Self {
            partial_out: Some(gpu.stream.alloc_zeros::<f32>(rows * head_dim)?),
            partial_max: Some(gpu.stream.alloc_zeros::<f32>(rows)?),
            partial_sum: Some(gpu.stream.alloc_zeros::<f32>(rows)?),
            rows,
            // A plan has at most `rows` pieces and as many entries: header, items, entries.
            table: Some(gpu.stream.alloc_zeros::<i32>(table_words(rows, rows))?),
            held: None,
            generation: 0,
            fixed: false,
        })
    }

    /// Holds `plan`'s table (uploaded unless it already is) and returns its upload's number.
    /// Call it before a CUDA graph capture (`VqAttention::prepare_plan`): an upload cannot be
    /// captured.
    fn hold_plan(&mut self, gpu: &Gpu, plan: &SplitPlan) -> Result<u32> {
        if self.held.as_ref() == Some(plan) {
            return Ok(self.generation);
        }
        let generation = UPLOADS
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .wrapping_add(1);
        let table = plan.table(generation);
        if self.table.as_ref().is_none_or(|t| t.len() < table.len()) {
            self.check_growth("work-list table")?;
            self.table = Some(gpu.stream.alloc_zeros::<i32>(table.len())?);
        }
        let Some(device) = self.table.as_mut() else {
            unreachable!("allocated above");
        };
        self.held = None;
        gpu.stream
            .memcpy_htod(&table, &mut device.slice_mut(0..table.len()))?;
        self.generation = generation;
        self.held = Some(plan.clone());
        Ok(generation)
    }

    /// An error if a buffer must grow after a plan was prepared for a CUDA graph: the graph
    /// would then read and write freed memory.
    fn check_growth(&self, what: &str) -> Result<()> {
        if self.fixed {
            return Err(RuntimeError::Invalid(format!(
                "this workspace holds a plan prepared for a CUDA graph (VqAttention::prepare_plan), so its {what} cannot grow: \
                 allocate it with Workspace::with_capacity for the largest plan (VqAttention::max_splits), or use another workspace"
            )));
        }
        Ok(())
    }
}

/// Words of a work-list table for `pieces` pieces of `batch` entries: an int4 header, an int4
/// per piece, an int per entry.
fn table_words(pieces: usize, batch: usize) -> usize {
    4 + 4 * pieces + batch
}

/// A launch's work list: each batch entry's coded rows cut into `splits[b]` pieces of
/// `tokens_per_split` rows (whole tiles of the kernel; at least one piece an entry; the piece
/// holding its last coded row takes its fp16 tokens). The attention runs a block per piece and
/// KV head, so a sequence planned short costs fewer blocks than a long one. Pieces past an entry's rows (a plan made for
/// the longest lengths a CUDA graph replays) idle; an entry with more rows than its pieces
/// cover gives NaN, never a partial answer. The kernels read the plan as a table in the
/// [`Workspace`] (`codegen/src/cuda/batch_pieces.cuh`). With one piece for every entry
/// ([`Self::stride`] 1, as large batches get) no merge is launched: the attention normalises
/// and writes the output (`codegen/src/cuda/split_result.cuh`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitPlan {
    pub tokens_per_split: u32,
    /// Pieces of each batch entry, in batch order.
    pub splits: Vec<u32>,
}

impl SplitPlan {
    /// `splits` pieces of `tokens_per_split` rows for each of `batch` entries.
    pub fn uniform(batch: usize, splits: u32, tokens_per_split: u32) -> Self {
        Self {
            tokens_per_split,
            splits: vec![splits; batch],
        }
    }

    /// Pieces of `tokens_per_split` rows for sequences of `coded` coded rows: at least one each.
    pub fn for_lengths(coded: &[usize], tokens_per_split: u32) -> Self {
        let piece = (tokens_per_split as usize).max(1);
        Self {
            tokens_per_split,
            splits: coded
                .iter()
                .map(|&c| piece_count(c, piece).min(u32::MAX as usize) as u32)
                .collect(),
        }
    }

    /// Pieces of the whole batch: the attention grid's x.
    pub fn pieces(&self) -> u64 {
        self.splits.iter().map(|&s| s as u64).sum()
    }

    /// The most pieces of one entry: the partial rows the merge keeps per output row.
    pub fn stride(&self) -> u32 {
        self.splits.iter().copied().max().unwrap_or(1)
    }

    /// The table the kernels read (`batch_pieces.cuh`), with `generation` in its header.
    /// Checked by the launch: every entry has 1 to 2^31 - 1 pieces, and so has the batch.
    fn table(&self, generation: u32) -> Vec<i32> {
        let pieces = self.pieces() as usize;
        let mut table = Vec::with_capacity(table_words(pieces, self.splits.len()));
        table.extend([
            generation as i32,
            pieces as i32,
            self.splits.len() as i32,
            self.tokens_per_split as i32,
        ]);
        for (entry, &count) in self.splits.iter().enumerate() {
            for split in 0..count as i32 {
                table.extend([entry as i32, split, count as i32, 0]);
            }
        }
        table.extend(self.splits.iter().map(|&count| count as i32));
        table
    }
}

/// A plan a launch over `batch` sequences with tiles of `tile` rows can take (see
/// [`SplitPlan`]); else what is wrong with it.
fn check_plan(plan: &SplitPlan, batch: usize, tile: usize) -> Result<()> {
    let pieces = plan.pieces();
    // Pieces start on tile boundaries, so that each warp's share starts on a multiple of
    // its size: the direct loads address a share from one base per page it spans.
    // The kernels count rows in 32-bit: a sequence's pieces end below 2^30 rows, so that
    // `split × tokens_per_split` and the prefetches past it stay far from overflow.
    let rows_spanned = plan.stride() as u64 * plan.tokens_per_split as u64;
    if plan.splits.len() != batch
        || plan.splits.contains(&0)
        || pieces > i32::MAX as u64
        || plan.tokens_per_split == 0
        || rows_spanned >= 1 << 30
        || !(plan.tokens_per_split as usize).is_multiple_of(tile)
    {
        return Err(RuntimeError::Invalid(format!(
            "split plan of {} entries, {pieces} pieces of {} rows, for {batch} sequences: every entry needs 1 or more pieces, \
             fewer than 2^31 in all, each a whole number of the kernel's {}-token tiles, and an entry's pieces below 2^30 rows",
            plan.splits.len(),
            plan.tokens_per_split,
            tile
        )));
    }
    Ok(())
}

/// Pieces of `piece` rows for sequences of `coded` rows: at least one each.
fn pieces_of(coded: &[usize], piece: usize) -> usize {
    coded.iter().map(|&c| piece_count(c, piece)).sum()
}

/// Pieces of `piece` rows for a sequence of `coded` rows: at least one (it takes the fp16
/// tokens).
fn piece_count(coded: usize, piece: usize) -> usize {
    coded.div_ceil(piece.max(1)).max(1)
}

impl VqAttention {
    /// Validates the config for this GPU, generates, compiles (cached) and loads it.
    pub fn new(gpu: &Gpu, config: &KernelConfig) -> Result<Self> {
        Self::load(gpu, emit(config, gpu.arch)?)
    }

    /// Compiles (cached) and loads already generated source, e.g. embedded by the proc macros
    /// (generated for some arch: its config is validated for this GPU's).
    pub fn from_emitted(gpu: &Gpu, kernel: EmittedKernel) -> Result<Self> {
        kernel.config.validate(gpu.arch)?;
        Self::load(gpu, kernel)
    }

    /// Compiles and loads a kernel whose config was validated for `gpu`.
    fn load(gpu: &Gpu, kernel: EmittedKernel) -> Result<Self> {
        let config = &kernel.config;
        if kernel.shared_bytes > gpu.max_shared_per_block {
            return Err(RuntimeError::Invalid(format!(
                "{config}: shared memory {} KB > {} KB on {}",
                kernel.shared_bytes / 1024,
                gpu.max_shared_per_block / 1024,
                gpu.name
            )));
        }
        let ptx = compile(&kernel.source, gpu.arch, &kernel.attention_entry)?;
        let module = gpu.context.load_module(ptx)?;
        let attention = module.load_function(&kernel.attention_entry)?;
        let merge = module.load_function(&kernel.merge_entry)?;
        attention.set_attribute(
            CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
            kernel.shared_bytes as i32,
        )?;
        let blocks_per_sm = attention.occupancy_max_active_blocks_per_multiprocessor(
            kernel.block_threads,
            kernel.shared_bytes as usize,
            None,
        )?;
        Ok(Self {
            kernel,
            attention,
            merge,
            blocks_per_sm,
            dependent: false,
        })
    }

    /// Launches the attention and its merge as programmatic dependents of the stream's
    /// previous kernel (sm_90 and later; off by default): the attention's blocks copy their
    /// codebooks while that kernel (e.g. the append) finishes, and the merge starts while the
    /// attention's last blocks run. Both wait in `griddepcontrol.wait` before they read
    /// anything but the codebooks and the plan's table (which only uploads write, in stream
    /// order), so this is safe after any kernel that does not write the codebooks.
    /// Fails, changing nothing, on a GPU older than sm_90.
    pub fn set_dependent_launches(&mut self, gpu: &Gpu, on: bool) -> Result<()> {
        self.dependent = dependent_launch::checked_setting(gpu, on)?;
        Ok(())
    }

    pub fn dependent_launches(&self) -> bool {
        self.dependent
    }

    /// Registers per thread and spilled bytes (local memory) of the attention kernel.
    pub fn resources(&self) -> Result<(i32, i32)> {
        Ok((
            self.attention.num_regs()?,
            self.attention.local_size_bytes()?,
        ))
    }

    /// The plan of a launch over `view`: from its sequences' lengths where the host knows them
    /// ([`Self::plan_for_lengths`]), else from the longest ([`Self::plan_for`]).
    pub fn plan(&self, gpu: &Gpu, view: &CacheView<'_>) -> SplitPlan {
        let kv_heads = view.storage.spec().kv_heads;
        match view.coded_lengths() {
            Some(coded) => self.plan_for_lengths(gpu, kv_heads, &coded),
            None => self.plan_for(gpu, view.batch(), kv_heads, view.longest_coded()),
        }
    }

    /// The plan for a batch whose entries have `coded` coded rows each (or will have, at most,
    /// over the steps a captured launch replays), with `kv_heads` KV heads. Under the automatic
    /// policy the pieces are the shortest whose blocks fit one wave, never longer than
    /// [`Self::plan_for`]'s from the longest (see `piece_rows`); a fixed policy cuts the
    /// longest into its splits. Within [`Self::max_splits`].
    pub fn plan_for_lengths(&self, gpu: &Gpu, kv_heads: usize, coded: &[usize]) -> SplitPlan {
        let longest = coded.iter().copied().max().unwrap_or(0);
        let tile = self.kernel.config.tile_tokens;
        let from_longest = self.longest_piece(gpu, coded.len() * kv_heads, longest);
        let piece = match self.kernel.config.split {
            SplitPolicy::Auto => piece_rows(coded, kv_heads, tile, self.slots(gpu), from_longest),
            SplitPolicy::Fixed(_) => from_longest,
        };
        SplitPlan::for_lengths(coded, piece as u32)
    }

    /// The plan for `batch` sequences of up to `longest_coded` coded rows each, `kv_heads` KV
    /// heads, planned from the longest alone: its pieces for every sequence. A plan for the
    /// longest sequence a step will see lets an engine capture the launch in a CUDA graph;
    /// shorter sequences leave blocks idle.
    pub fn plan_for(
        &self,
        gpu: &Gpu,
        batch: usize,
        kv_heads: usize,
        longest_coded: usize,
    ) -> SplitPlan {
        let piece = self.longest_piece(gpu, batch * kv_heads, longest_coded);
        let per_sequence = longest_coded.max(1).div_ceil(piece);
        SplitPlan::uniform(batch, per_sequence as u32, piece as u32)
    }

    /// The piece length for `heads` (batch entry, KV head) pairs whose longest sequence has
    /// `longest_coded` coded rows: the policy's splits of the longest, in whole tiles.
    fn longest_piece(&self, gpu: &Gpu, heads: usize, longest_coded: usize) -> usize {
        split_piece(
            longest_coded,
            self.kernel.config.tile_tokens,
            self.wanted_splits(gpu, heads),
        )
    }

    /// Splits the policy asks for with `heads` (batch entry, KV head) pairs.
    fn wanted_splits(&self, gpu: &Gpu, heads: usize) -> usize {
        match self.kernel.config.split {
            SplitPolicy::Fixed(n) => n as usize,
            SplitPolicy::Auto => auto_splits(heads, self.slots(gpu)),
        }
    }

    /// Blocks of this kernel resident on the GPU at once.
    fn slots(&self, gpu: &Gpu) -> usize {
        gpu.sm_count as usize * self.blocks_per_sm.max(1) as usize
    }

    /// The most pieces of one sequence ([`SplitPlan::stride`]) any plan of this kernel for
    /// `batch` sequences of up to `longest_coded` coded rows, with `kv_heads` KV heads, can
    /// have: a workspace of `batch × query heads ×` this many rows never allocates at launch
    /// (a CUDA graph capture must not). Plans are not monotonic in the length (a shorter
    /// sequence may split into more, shorter pieces), so this bounds them all: at most a piece
    /// per tile of the longest; under the automatic policy, one wave's blocks per KV head less
    /// one for every other sequence, or `MAX_WAVE_SPLITS`. It bounds plans for these `batch` sequences:
    /// a launch over fewer may cut each into more pieces (size the workspace for the batch
    /// launched).
    pub fn max_splits(
        &self,
        gpu: &Gpu,
        batch: usize,
        kv_heads: usize,
        longest_coded: usize,
    ) -> u32 {
        let tiles = longest_coded
            .max(1)
            .div_ceil(self.kernel.config.tile_tokens);
        splits_bound(
            self.kernel.config.split,
            batch,
            kv_heads,
            tiles,
            self.slots(gpu),
        )
    }

    /// Uploads `plan`'s work-list table into `workspace` now (a launch does it when the table
    /// there is another plan's). An engine that captures launches in a CUDA graph calls this
    /// before the capture, since an upload cannot be captured. Replays read the table from the
    /// workspace: a plan launched on the same workspace after the capture replaces it, and the
    /// replays then write NaN (the kernels compare the upload's number), so give a graph its
    /// own workspace or capture it again. From here on the workspace's buffers never grow (a
    /// launch that would need more is an error): a captured graph keeps their addresses, so
    /// allocate it with [`Workspace::with_capacity`] for the largest plan first.
    pub fn prepare_plan(
        &self,
        gpu: &Gpu,
        workspace: &mut Workspace,
        plan: &SplitPlan,
    ) -> Result<()> {
        workspace.hold_plan(gpu, plan)?;
        workspace.fixed = true;
        Ok(())
    }

    /// One decode step over `view`: `query` is `[batch, q_heads, head_dim]` f16 (q_heads =
    /// the cache's KV heads × the kernel's group), `out` the same shape in the config's output
    /// dtype (fp16 or bf16 bits). The kernel is checked against the cache first. A sequence
    /// without tokens gets zeros.
    pub fn attend<'a>(
        &self,
        gpu: &Gpu,
        view: impl Into<CacheView<'a>>,
        query: &CudaSlice<u16>,
        out: &mut CudaSlice<u16>,
        workspace: &mut Workspace,
    ) -> Result<()> {
        let view = view.into();
        let plan = self.plan(gpu, &view);
        self.attend_with_plan(gpu, view, query, out, workspace, &plan)
    }

    /// [`Self::attend`] with a given plan (see [`Self::plan_for_lengths`]). A plan with too few
    /// pieces for the lengths gives NaN for the sequences it leaves out, never a silent partial
    /// answer.
    pub fn attend_with_plan<'a>(
        &self,
        gpu: &Gpu,
        view: impl Into<CacheView<'a>>,
        query: &CudaSlice<u16>,
        out: &mut CudaSlice<u16>,
        workspace: &mut Workspace,
        plan: &SplitPlan,
    ) -> Result<()> {
        let view = view.into();
        let c = &self.kernel.config;
        let spec = view.storage.spec();
        spec.check(c)?;
        let (batch, kv_heads) = (view.batch(), spec.kv_heads);
        let q_heads = kv_heads * c.group;
        let elements = batch * q_heads * c.head_dim;
        for (what, buffer) in [("query", query.len()), ("output", out.len())] {
            if buffer != elements {
                return Err(RuntimeError::BufferLength {
                    what,
                    expected: format!(
                        "batch × q_heads × head_dim = {batch} × {q_heads} × {} = {elements}",
                        c.head_dim
                    ),
                    got: buffer,
                });
            }
        }
        if batch == 0 {
            return Ok(());
        }
        if kv_heads > 65_535 {
            return Err(RuntimeError::Invalid(format!(
                "a launch takes at most 65535 KV heads (a grid limit), got {kv_heads}"
            )));
        }
        check_plan(plan, batch, c.tile_tokens)?;
        let pieces = plan.pieces();
        if batch * q_heads > i32::MAX as usize {
            return Err(RuntimeError::Invalid(format!(
                "a launch takes fewer than 2^31 output rows (batch × query heads), got {batch} × {q_heads}"
            )));
        }
        let (pieces, stride) = (pieces as usize, plan.stride());
        let rows = batch * q_heads * stride as usize;
        if workspace.rows < rows {
            workspace.check_growth("partial rows")?;
            workspace.partial_out = Some(gpu.stream.alloc_zeros::<f32>(rows * c.head_dim)?);
            workspace.partial_max = Some(gpu.stream.alloc_zeros::<f32>(rows)?);
            workspace.partial_sum = Some(gpu.stream.alloc_zeros::<f32>(rows)?);
            workspace.rows = rows;
        }
        let generation = workspace.hold_plan(gpu, plan)?;
        let (Some(po), Some(pm), Some(ps), Some(table)) = (
            workspace.partial_out.as_mut(),
            workspace.partial_max.as_mut(),
            workspace.partial_sum.as_mut(),
            workspace.table.as_ref(),
        ) else {
            unreachable!("the workspace was sized above, and its table held");
        };
        let geometry = view.geometry();
        let store = view.storage;
        let tables = view.batch;
        // All below 2^31 (checked above).
        let (tokens_per_split, pieces, batch, stride) = (
            plan.tokens_per_split as i32,
            pieces as i32,
            batch as i32,
            stride as i32,
        );
        let stream = &gpu.stream;
        let mut b = Buffers::default();
        let args = [
            b.add(query.device_ptr(stream)),
            b.add(store.key_codes.device_ptr(stream)),
            b.add(store.value_codes.device_ptr(stream)),
            b.add(store.key_codebooks.device_ptr(stream)),
            b.add(store.value_codebooks.device_ptr(stream)),
            b.add(store.smooth.device_ptr(stream)),
            b.add(store.slot_keys.device_ptr(stream)),
            b.add(store.slot_values.device_ptr(stream)),
            b.add(tables.seq_len.device_ptr(stream)),
            b.add(tables.seq_slot.device_ptr(stream)),
            b.add(tables.page_indptr.device_ptr(stream)),
            b.add(tables.page_indices.device_ptr(stream)),
            KernelArg::Geometry(geometry),
            b.add(po.device_ptr_mut(stream)),
            b.add(pm.device_ptr_mut(stream)),
            b.add(ps.device_ptr_mut(stream)),
            b.add(out.device_ptr_mut(stream)),
            KernelArg::Int(tokens_per_split),
            b.add(table.device_ptr(stream)),
            KernelArg::Int(generation as i32),
            KernelArg::Int(batch),
            KernelArg::Int(stride),
        ];
        let config = LaunchConfig {
            grid_dim: (pieces as u32, kv_heads as u32, 1),
            block_dim: (self.kernel.block_threads, 1, 1),
            shared_mem_bytes: self.kernel.shared_bytes,
        };
        // SAFETY: the arguments match the generated signature in number, type and order
        // (codegen's `kernel_signature`), and `b` holds every buffer. The kernel was checked
        // against the cache's spec above, so its row sizes, codebook sizes and layout are the
        // storage's; the storage's buffers were allocated for its geometry, which the kernel
        // receives and clamps every table index into; query, output and the partial buffers
        // hold the sizes the grid indexes (checked above: the work list's table, built and
        // uploaded by `hold_plan` for this plan, gives every block an entry below `batch` and
        // a piece below `stride`; from a table the launch does not own, blocks take entry 0,
        // piece 0), and the length tables hold `batch` entries (checked when the view was
        // made). With stride 1 (grid x = batch, each entry one piece: `check_plan`) the kernel
        // writes `out` itself, at its entry's rows; an uncovered block also writes NaN at block
        // x's rows, x < batch.
        unsafe {
            dependent_launch::launch(stream, &self.attention, config, &args, b, self.dependent)
        }?;
        if stride == 1 {
            // One piece per entry: the attention wrote the output (codegen's split_result.cuh).
            return Ok(());
        }
        let mut b = Buffers::default();
        let args = [
            b.add(po.device_ptr(stream)),
            b.add(pm.device_ptr(stream)),
            b.add(ps.device_ptr(stream)),
            b.add(out.device_ptr_mut(stream)),
            b.add(table.device_ptr(stream)),
            KernelArg::Int(generation as i32),
            KernelArg::Int(pieces),
            KernelArg::Int(batch),
            KernelArg::Int(tokens_per_split),
            KernelArg::Int(kv_heads as i32),
            KernelArg::Int(stride),
        ];
        let config = LaunchConfig {
            grid_dim: ((batch as usize * q_heads) as u32, 1, 1),
            block_dim: (self.kernel.merge_threads, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: the merge kernel's signature (codegen's `merge_kernel`, `MergeRows::Pieces`):
        // it reads at most `stride` partial rows per output row (its entry's pieces, clamped),
        // which the workspace holds for `batch × q_heads` rows, and writes `head_dim` values
        // per row of `out` (checked above).
        unsafe { dependent_launch::launch(stream, &self.merge, config, &args, b, self.dependent) }?;
        Ok(())
    }
}

/// The piece for a longest sequence of `longest_coded` rows, tiles of `tile`, `wanted` splits:
/// the shortest whole tiles that cut it into at most `wanted` pieces.
fn split_piece(longest_coded: usize, tile: usize, wanted: usize) -> usize {
    let longest = longest_coded.max(1);
    let splits = wanted.clamp(1, longest.div_ceil(tile).max(1));
    longest.div_ceil(splits).next_multiple_of(tile)
}

/// The automatic policy's piece for sequences of `coded` coded rows each, `kv_heads` KV heads,
/// `slots` resident blocks, given `from_longest`, the piece of the longest alone
/// (`split_piece` with `auto_splits`).
///
/// Cut by the longest, a ragged batch's blocks are as long as that sequence's share: at 8
/// sequences of 4k to 61k tokens (mean 32k, Llama-3.1-8B shape, H200) the kernel took 1.6x as
/// long as for 8 × 32k (bench/results/kernel-s31). Here the pieces are the shortest whose
/// blocks (`kv_heads × Σ max(1, ceil(coded / piece))`, none empty) still fit one wave; never
/// longer than `from_longest`. Equal lengths get `from_longest` (the same piece: it fills one
/// wave with the fewest blocks), and so does a batch whose blocks cannot fit one wave.
fn piece_rows(
    coded: &[usize],
    kv_heads: usize,
    tile: usize,
    slots: usize,
    from_longest: usize,
) -> usize {
    let longest = coded.iter().copied().max().unwrap_or(0);
    if coded.iter().all(|&c| c == longest) {
        return from_longest;
    }
    let blocks = |tiles: usize| kv_heads * pieces_of(coded, tiles * tile);
    let most = longest.div_ceil(tile).max(1);
    if blocks(most) > slots {
        return from_longest;
    }
    // The fewest tiles per piece whose blocks fit: `blocks` never grows with the piece.
    let (mut lo, mut hi) = (1, most);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if blocks(mid) <= slots {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    (lo * tile).min(from_longest)
}

/// [`VqAttention::max_splits`] for sequences of up to `tiles` tiles and `slots` resident blocks.
fn splits_bound(
    split: SplitPolicy,
    batch: usize,
    kv_heads: usize,
    tiles: usize,
    slots: usize,
) -> u32 {
    let bound = match split {
        SplitPolicy::Fixed(n) => n as usize,
        SplitPolicy::Auto => (slots / kv_heads.max(1))
            .saturating_sub(batch.saturating_sub(1))
            .max(MAX_WAVE_SPLITS),
    };
    bound.clamp(1, tiles.max(1)).min(u32::MAX as usize) as u32
}

/// Splits per (batch entry, KV head) pair for `SplitPolicy::Auto`, with `slots` resident
/// blocks on the GPU. Blocks of one launch are equally long, so a last wave that fills only
/// part of the slots costs a whole block's time:
/// - fewer pairs than slots: split so that the blocks fill one wave. Two waves (the rule
///   before) copy the codebooks twice as often: at batch 1 on an H200, one wave ran 1.2-1.35x
///   faster at 1 x 128k for the Llama-3.1-8B and SmolLM2 shapes and 1.3x at Llama's 1 x 32k
///   (bench/results/model-s7/splits.sh);
/// - more: the fewest splits (up to 4) whose blocks fill their waves to 80%, else the best
///   fill (64 × 8k on an H100 with 3 blocks per SM: 512 blocks are 1.3 waves, 65% full; 2
///   splits fill 86%). Each split pays the block's set-up again (codebook copies, query
///   transform): at 128 × 4k, 3 splits for a 97% fill ran 25% slower than 1 split at 86%
///   (bench/results/h100/kernel-s6).
fn auto_splits(heads: usize, slots: usize) -> usize {
    let (heads, slots) = (heads.max(1), slots.max(1));
    if heads < slots {
        return slots / heads;
    }
    let fill = |s: usize| (heads * s) as f64 / ((heads * s).div_ceil(slots) * slots) as f64;
    (1..=MAX_WAVE_SPLITS)
        .find(|&s| fill(s) >= 0.8)
        .unwrap_or_else(|| {
            (1..=MAX_WAVE_SPLITS)
                .max_by(|&a, &b| fill(a).total_cmp(&fill(b)).then(b.cmp(&a)))
                .unwrap_or(1)
        })
}
const MAX_WAVE_SPLITS: usize = 4;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn automatic_splits_fill_the_waves() {
        // Fewer pairs than slots: one wave.
        assert_eq!(auto_splits(8, 396), 49);
        assert_eq!(auto_splits(3, 396), 132);
        assert_eq!(auto_splits(64, 396), 6);
        // More: the first split count that fills its waves to 80%.
        assert_eq!(auto_splits(512, 396), 2);
        assert_eq!(auto_splits(1024, 396), 1);
        assert_eq!(auto_splits(396, 396), 1);
        assert_eq!(auto_splits(792, 264), 1);
        for heads in [1, 5, 100, 263, 264, 265, 700, 5000, 100_000] {
            for slots in [1, 108, 264, 396, 528] {
                let s = auto_splits(heads, slots);
                assert!(
                    s >= 1 && (heads < slots || s <= MAX_WAVE_SPLITS),
                    "{heads} {slots}: {s}"
                );
                if heads >= slots {
                    let fill = (heads * s) as f64 / ((heads * s).div_ceil(slots) * slots) as f64;
                    let best = (1..=MAX_WAVE_SPLITS)
                        .map(|s| (heads * s) as f64 / ((heads * s).div_ceil(slots) * slots) as f64)
                        .fold(0.0, f64::max);
                    assert!(
                        fill >= 0.8 || fill == best,
                        "{heads} {slots}: {s} fills {fill}"
                    );
                }
            }
        }
    }

    /// `plan_for_lengths` under the automatic policy, without a GPU.
    fn plan_of(coded: &[usize], kv_heads: usize, tile: usize, slots: usize) -> SplitPlan {
        let longest = coded.iter().copied().max().unwrap_or(0);
        let from_longest = split_piece(longest, tile, auto_splits(coded.len() * kv_heads, slots));
        let piece = piece_rows(coded, kv_heads, tile, slots, from_longest);
        SplitPlan::for_lengths(coded, piece as u32)
    }

    #[test]
    fn ragged_plans_fill_one_wave_without_empty_blocks() {
        // The bench's 8 sequences around 32k (4k to 61k), Llama shape, 3 blocks on 132 SMs:
        // cut by the longest, pieces of 10240 rows (6 for the longest, 30 blocks a KV head); as
        // a batch, the shortest pieces whose blocks fit 396 slots: 49 of 5888 a KV head.
        let spread = [28544, 36736, 53120, 3968, 12160, 61312, 20352, 44928];
        assert_eq!(split_piece(61312, 256, auto_splits(64, 396)), 10240);
        let p = plan_of(&spread, 8, 256, 396);
        assert_eq!((p.pieces(), p.tokens_per_split), (49, 5888));
        // Equal lengths keep the pieces of the longest: `splits` a sequence.
        for (batch, coded, splits) in [(1, 32640, 43), (8, 32640, 6), (64, 8064, 2), (3, 100, 1)] {
            let lengths = vec![coded; batch];
            let piece = split_piece(coded, 256, auto_splits(batch * 8, 396));
            let p = plan_of(&lengths, 8, 256, 396);
            assert_eq!(p, SplitPlan::uniform(batch, splits, piece as u32));
        }
        // More sequences than one wave holds: the pieces of the longest, and each sequence
        // only the blocks its rows need (64 of 128 to 8192 rows: 1 or 2 pieces of 4096).
        let many: Vec<usize> = (0..64).map(|i| 128 * (i + 1)).collect();
        let p = plan_of(&many, 8, 256, 396);
        assert_eq!((p.pieces(), p.tokens_per_split), (96, 4096));
        // Any batch: whole tiles, pieces no longer than the longest's, within max_splits'
        // bound; a ragged plan's blocks fit one wave unless the longest's pieces already
        // take more than one.
        let mut state = 7u64;
        let mut next = |n: usize| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            (state >> 33) as usize % n
        };
        for _ in 0..3000 {
            let (batch, kv_heads) = (1 + next(40), [1, 2, 3, 8][next(4)]);
            let (tile, slots) = ([64, 128, 256][next(3)], [132, 264, 396, 528][next(4)]);
            let cap = [300, 5000, 140_000][next(3)];
            let coded: Vec<usize> = (0..batch).map(|_| next(cap)).collect();
            let longest = coded.iter().copied().max().unwrap();
            let from_longest = split_piece(longest, tile, auto_splits(batch * kv_heads, slots));
            let p = plan_of(&coded, kv_heads, tile, slots);
            let piece = p.tokens_per_split as usize;
            assert!(
                piece.is_multiple_of(tile) && piece <= from_longest,
                "{coded:?}: {p:?}"
            );
            assert_eq!(p.pieces() as usize, pieces_of(&coded, piece));
            let bound = splits_bound(
                SplitPolicy::Auto,
                batch,
                kv_heads,
                longest.div_ceil(tile),
                slots,
            );
            assert!(p.stride() <= bound, "{coded:?}: {p:?} over {bound}");
            if piece < from_longest {
                assert!(kv_heads * p.pieces() as usize <= slots, "{coded:?}: {p:?}");
            }
        }
    }

    #[test]
    fn plans_from_the_longest_never_exceed_the_bound_of_a_longer_sequence() {
        for tile in [64, 128, 256, 512] {
            for wanted in [1, 2, 7, 11, 14, 22, 64, 176] {
                let capacity: usize = 8064;
                let tiles = capacity.div_ceil(tile);
                let bound = splits_bound(SplitPolicy::Fixed(wanted as u32), 1, 1, tiles, 0);
                let mut seen_more_than_full = false;
                let full = capacity.div_ceil(split_piece(capacity, tile, wanted));
                for longest in 0..=capacity {
                    let piece = split_piece(longest, tile, wanted);
                    let pieces = longest.max(1).div_ceil(piece);
                    assert!(piece.is_multiple_of(tile) && pieces >= 1);
                    assert!(
                        pieces <= bound as usize,
                        "{longest} rows: {pieces} over the bound {bound}"
                    );
                    seen_more_than_full |= pieces > full;
                }
                // Why the bound exists: with 14 wanted over 256-token tiles, 7000 rows split in
                // 14 but 8064 in 11.
                if (tile, wanted) == (256, 14) {
                    assert!(seen_more_than_full);
                }
            }
        }
    }

    #[test]
    fn plans_a_launch_cannot_take_are_refused() {
        let ok = SplitPlan::uniform(3, 4, 512);
        assert!(check_plan(&ok, 3, 256).is_ok());
        let refused = [
            (SplitPlan::uniform(2, 4, 512), "2 entries for 3 sequences"),
            (
                SplitPlan {
                    tokens_per_split: 512,
                    splits: vec![1, 0, 2],
                },
                "an entry without pieces",
            ),
            (SplitPlan::uniform(3, 4, 300), "pieces of part tiles"),
            (SplitPlan::uniform(3, 4, 0), "empty pieces"),
            // 129 pieces of 2^24 rows: the last starts at 2^31, past the kernels' 32-bit rows.
            (SplitPlan::uniform(3, 129, 1 << 24), "rows past 2^30"),
            (
                SplitPlan {
                    tokens_per_split: 256,
                    splits: vec![u32::MAX, u32::MAX, 1],
                },
                "pieces past 2^31",
            ),
        ];
        for (plan, what) in refused {
            let e = check_plan(&plan, 3, 256).expect_err(what).to_string();
            assert!(e.contains("split plan of"), "{what}: {e}");
        }
    }

    #[test]
    fn the_table_lists_every_piece_entry_after_entry() {
        let plan = SplitPlan::for_lengths(&[0, 600, 256, 257], 256);
        assert_eq!(plan.splits, [1, 3, 1, 2]);
        assert_eq!((plan.pieces(), plan.stride()), (7, 3));
        let table = plan.table(9);
        assert_eq!(table.len(), table_words(7, 4));
        assert_eq!(table[..4], [9, 7, 4, 256]);
        let items: Vec<&[i32]> = table[4..4 + 28].chunks(4).collect();
        assert_eq!(
            items,
            [
                [0, 0, 1, 0],
                [1, 0, 3, 0],
                [1, 1, 3, 0],
                [1, 2, 3, 0],
                [2, 0, 1, 0],
                [3, 0, 2, 0],
                [3, 1, 2, 0]
            ]
        );
        assert_eq!(table[32..], [1, 3, 1, 2]);
    }
}
