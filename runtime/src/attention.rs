//! The fused VQ decode attention: a compiled kernel pair (attention + split merge) and its launch.

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

/// Scratch for the split merge, sized for the largest launch so far.
#[derive(Default)]
pub struct Workspace {
    partial_out: Option<CudaSlice<f32>>,
    partial_max: Option<CudaSlice<f32>>,
    partial_sum: Option<CudaSlice<f32>>,
    rows: usize,
}

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

    /// Scratch for `rows` (batch × query heads × splits) partial rows of `head_dim`, allocated
    /// now: launches that fit never allocate (a CUDA graph capture must not).
    pub fn with_capacity(gpu: &Gpu, rows: usize, head_dim: usize) -> Result<Self> {
        Ok(Self {
            partial_out: Some(gpu.stream.alloc_zeros::<f32>(rows.max(1) * head_dim)?),
            partial_max: Some(gpu.stream.alloc_zeros::<f32>(rows.max(1))?),
            partial_sum: Some(gpu.stream.alloc_zeros::<f32>(rows.max(1))?),
            rows: rows.max(1),
        })
    }
}

/// Splits and the coded tokens each covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitPlan {
    pub splits: u32,
    pub tokens_per_split: u32,
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
    /// anything else, so this is safe after any kernel that does not write the codebooks.
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

    /// The split plan of a launch over `view`: how many blocks share each sequence's coded
    /// rows. From the longest one, as [`Self::plan_for`]; with the automatic policy and
    /// lengths that differ (and that the host knows), shorter pieces where the batch's blocks
    /// still fit one wave (see `ragged_plan`).
    pub fn plan(&self, gpu: &Gpu, view: &CacheView<'_>) -> SplitPlan {
        let kv_heads = view.storage.spec().kv_heads;
        match view.coded_lengths() {
            Some(coded) => self.plan_for_lengths(gpu, kv_heads, &coded),
            None => self.plan_for(gpu, view.batch() * kv_heads, view.longest_coded()),
        }
    }

    /// The split plan for a batch whose entries have `coded` coded rows each (or will have, at
    /// most, over the steps a captured launch replays), with `kv_heads` KV heads: as
    /// [`Self::plan_for`] from the longest, with shorter pieces for ragged lengths under the
    /// automatic policy (see [`Self::plan`]). Within [`Self::max_splits`] for the longest.
    pub fn plan_for_lengths(&self, gpu: &Gpu, kv_heads: usize, coded: &[usize]) -> SplitPlan {
        let longest = coded.iter().copied().max().unwrap_or(0);
        let equal = self.plan_for(gpu, coded.len() * kv_heads, longest);
        match self.kernel.config.split {
            SplitPolicy::Auto => ragged_plan(
                coded,
                kv_heads,
                (self.kernel.config.tile_tokens, self.kernel.config.head_dim),
                self.slots(gpu),
                equal,
            ),
            SplitPolicy::Fixed(_) => equal,
        }
    }

    /// The split plan for `heads` (batch entry, KV head) pairs whose longest sequence has
    /// `longest_coded` coded rows. A fixed plan for the longest sequence a step will see lets
    /// an engine capture the launch in a CUDA graph; shorter sequences leave splits empty.
    pub fn plan_for(&self, gpu: &Gpu, heads: usize, longest_coded: usize) -> SplitPlan {
        split_plan(
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

    /// The most splits any plan for `heads` pairs and sequences of up to `longest_coded` coded
    /// rows can have, [`Self::plan`]'s ragged ones included: what a workspace must hold so that
    /// no launch allocates (a CUDA graph capture must not). Plans are not monotonic in the
    /// length (a shorter sequence may split into more, shorter pieces), so this bounds them
    /// all: `min(wanted, ceil(longest / tile))`, with `wanted` raised to the ragged plans'
    /// grid cap under the automatic policy. It bounds plans for these `heads`: a launch over
    /// fewer sequences may split each into more pieces (size the workspace for the batch
    /// launched, or for the product of rows and splits).
    pub fn max_splits(&self, gpu: &Gpu, heads: usize, longest_coded: usize) -> u32 {
        let wanted = self.wanted_splits(gpu, heads);
        let wanted = match self.kernel.config.split {
            SplitPolicy::Auto => wanted.max(ragged_grid_splits(heads, self.slots(gpu))),
            SplitPolicy::Fixed(_) => wanted,
        };
        max_splits(longest_coded, self.kernel.config.tile_tokens, wanted)
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
        self.attend_with_plan(gpu, view, query, out, workspace, plan)
    }

    /// [`Self::attend`] with a given split plan (see [`Self::plan_for`]). A plan that does not
    /// cover a sequence gives NaN for it, never a silent partial answer.
    pub fn attend_with_plan<'a>(
        &self,
        gpu: &Gpu,
        view: impl Into<CacheView<'a>>,
        query: &CudaSlice<u16>,
        out: &mut CudaSlice<u16>,
        workspace: &mut Workspace,
        plan: SplitPlan,
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
        if batch > 65_535 || kv_heads > 65_535 {
            return Err(RuntimeError::Invalid(format!(
                "a launch takes at most 65535 batch entries and KV heads (grid limits), got {batch} and {kv_heads}"
            )));
        }
        // Splits start on tile boundaries, so that each warp's share starts on a multiple of
        // its size: the direct loads address a share from one base per page it spans.
        if plan.splits == 0
            || plan.tokens_per_split == 0
            || plan.splits > 65_535
            || !(plan.tokens_per_split as usize).is_multiple_of(c.tile_tokens)
        {
            return Err(RuntimeError::Invalid(format!(
                "split plan {plan:?}: splits must be 1 to 65535, each a whole number of the kernel's {}-token tiles",
                c.tile_tokens
            )));
        }
        let rows = batch * q_heads * plan.splits as usize;
        if workspace.rows < rows {
            workspace.partial_out = Some(gpu.stream.alloc_zeros::<f32>(rows * c.head_dim)?);
            workspace.partial_max = Some(gpu.stream.alloc_zeros::<f32>(rows)?);
            workspace.partial_sum = Some(gpu.stream.alloc_zeros::<f32>(rows)?);
            workspace.rows = rows;
        }
        let (Some(po), Some(pm), Some(ps)) = (
            workspace.partial_out.as_mut(),
            workspace.partial_max.as_mut(),
            workspace.partial_sum.as_mut(),
        ) else {
            unreachable!("the workspace was sized above");
        };
        let geometry = view.geometry();
        let store = view.storage;
        let tables = view.batch;
        let tokens_per_split = i32::try_from(plan.tokens_per_split).map_err(|_| {
            RuntimeError::Invalid(format!("split plan {plan:?}: tokens per split past 2^31"))
        })?;
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
            KernelArg::Int(tokens_per_split),
        ];
        let config = LaunchConfig {
            grid_dim: (plan.splits, kv_heads as u32, batch as u32),
            block_dim: (self.kernel.block_threads, 1, 1),
            shared_mem_bytes: self.kernel.shared_bytes,
        };
        // SAFETY: the arguments match the generated signature in number, type and order
        // (codegen's `kernel_signature`), and `b` holds every buffer. The kernel was checked
        // against the cache's spec above, so its row sizes, codebook sizes and layout are the
        // storage's; the storage's buffers were allocated for its geometry, which the kernel
        // receives and clamps every table index into; query, output and the partial buffers
        // hold the sizes the grid indexes (checked above), and batch entries past the tables'
        // lengths are never launched (checked when the view was made).
        unsafe {
            dependent_launch::launch(stream, &self.attention, config, &args, b, self.dependent)
        }?;
        let mut b = Buffers::default();
        let args = [
            b.add(po.device_ptr(stream)),
            b.add(pm.device_ptr(stream)),
            b.add(ps.device_ptr(stream)),
            b.add(out.device_ptr_mut(stream)),
            KernelArg::Int(plan.splits as i32),
        ];
        let config = LaunchConfig {
            grid_dim: ((batch * q_heads) as u32, 1, 1),
            block_dim: (self.kernel.merge_threads, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: the merge kernel's signature (codegen's `merge_kernel`): it reads `splits`
        // partial rows per output row, which the workspace holds for `batch × q_heads` rows,
        // and writes `head_dim` values per row of `out` (checked above).
        unsafe { dependent_launch::launch(stream, &self.merge, config, &args, b, self.dependent) }?;
        Ok(())
    }
}

/// The plan for a longest sequence of `longest_coded` rows, tiles of `tile`, `wanted` splits:
/// at most `wanted` splits of whole tiles that cover every row.
fn split_plan(longest_coded: usize, tile: usize, wanted: usize) -> SplitPlan {
    let longest = longest_coded.max(1);
    let splits = wanted.clamp(1, longest.div_ceil(tile).max(1));
    let tokens_per_split = longest.div_ceil(splits).next_multiple_of(tile);
    SplitPlan {
        splits: longest.div_ceil(tokens_per_split) as u32,
        tokens_per_split: tokens_per_split as u32,
    }
}

/// The plan for sequences of `coded` coded rows each, `kv_heads` KV heads, `slots` resident
/// blocks, given `equal`, the plan from the longest alone (`split_plan` with `auto_splits`).
///
/// Planned from the longest, a ragged batch's blocks are as long as that sequence's share: at
/// 8 sequences of 4k to 61k tokens (mean 32k, Llama-3.1-8B shape, H200) the kernel took 1.6x
/// as long as for 8 × 32k (bench/results/kernel-s31). Here the pieces are the shortest whose
/// non-empty blocks (`kv_heads × Σ ceil(coded / piece)`) still fit one wave. Blocks past a
/// short sequence's end launch too and exit, so the grid is kept within
/// `ragged_grid_splits`. Equal lengths, or a batch whose blocks cannot fit one wave, keep
/// `equal`; the pieces are never longer than `equal`'s.
///
/// An empty block still copies the codebooks, transforms the query and stores an empty result
/// (about 4 µs at head dim 128), and in a grid over one wave it can hold a slot that a
/// non-empty block then waits for. So a plan whose grid passes one wave must shorten the
/// pieces by more than `empty_block_rows`: SmolLM2's shape at 8 sequences around 8192 tokens
/// halved its pieces (about 1024 to 512 rows) and its decode step ran 5% slower, where 8
/// around 32k (pieces about 3840 → 2048 rows) ran 7% faster (bench/results/kernel-s31).
fn ragged_plan(
    coded: &[usize],
    kv_heads: usize,
    (tile, head_dim): (usize, usize),
    slots: usize,
    equal: SplitPlan,
) -> SplitPlan {
    let longest = coded.iter().copied().max().unwrap_or(0);
    if coded.iter().all(|&c| c == longest) {
        return equal;
    }
    let blocks = |piece: usize| kv_heads * coded.iter().map(|c| c.div_ceil(piece)).sum::<usize>();
    let tiles = longest.div_ceil(tile).max(1);
    if blocks(tiles * tile) > slots {
        return equal;
    }
    // The fewest tiles per piece whose blocks fit: `blocks` never grows with the piece.
    let (mut lo, mut hi) = (1, tiles);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if blocks(mid * tile) <= slots {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let grid_cap = ragged_grid_splits(coded.len() * kv_heads, slots);
    let piece = (lo * tile).max(longest.div_ceil(grid_cap).next_multiple_of(tile));
    // Both fit u32: the piece is shorter than `equal`'s, the splits at most `grid_cap`.
    let splits = longest.div_ceil(piece);
    let waiting = if coded.len() * kv_heads * splits > slots {
        empty_block_rows(head_dim)
    } else {
        0
    };
    if piece + waiting >= equal.tokens_per_split as usize {
        return equal;
    }
    SplitPlan {
        splits: splits as u32,
        tokens_per_split: piece as u32,
    }
}

/// An empty block's time in coded rows of a block: about 4 µs, which a 128-dim block spends on
/// 300-400 rows (session 29's stage times, 1 × 32k on an H200); a row of half the dims takes
/// about half as long. Rounded up to 512 rows at head dim 128.
fn empty_block_rows(head_dim: usize) -> usize {
    512 * 128 / head_dim.max(1)
}

/// The most splits of a ragged plan for `heads` (batch entry, KV head) pairs: a grid of at most
/// two waves of blocks, empty ones included.
fn ragged_grid_splits(heads: usize, slots: usize) -> usize {
    (2 * slots / heads.max(1)).max(1)
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

/// A bound on the splits of every plan for sequences of up to `longest_coded` rows.
fn max_splits(longest_coded: usize, tile: usize, wanted: usize) -> u32 {
    wanted.clamp(1, longest_coded.max(1).div_ceil(tile).max(1)) as u32
}

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

    /// `ragged_plan` as `plan` calls it, with the automatic splits of an equal batch.
    fn plan_of(coded: &[usize], kv_heads: usize, tile: usize, slots: usize) -> SplitPlan {
        let longest = coded.iter().copied().max().unwrap_or(0);
        let equal = split_plan(longest, tile, auto_splits(coded.len() * kv_heads, slots));
        ragged_plan(coded, kv_heads, (tile, 128), slots, equal)
    }

    #[test]
    fn ragged_plans_fit_one_wave_and_stay_within_the_bound() {
        // The bench's 8 sequences around 32k (4k to 61k), Llama shape, 3 blocks on 132 SMs:
        // from the longest alone, 6 pieces of 10240 rows; ragged, 11 of 5888 (the equal
        // 8 × 32k's are 5632).
        let spread = [28544, 36736, 53120, 3968, 12160, 61312, 20352, 44928];
        let equal = split_plan(61312, 256, auto_splits(64, 396));
        assert_eq!((equal.splits, equal.tokens_per_split), (6, 10240));
        let p = plan_of(&spread, 8, 256, 396);
        assert_eq!((p.splits, p.tokens_per_split), (11, 5888));
        // SmolLM2's shape (3 KV heads, head dim 64): at 8 around 8192 the pieces would halve
        // (1024 to 512 rows) over a grid of two waves, which an empty block's wait outweighs;
        // at 8 around 32k they shrink from 3840 to 2048 rows.
        let smol = |context: usize| -> (SplitPlan, SplitPlan) {
            let coded: Vec<usize> = crate::spread_lengths(8, context)
                .iter()
                .map(|n| n - 132)
                .collect();
            let longest = *coded.iter().max().unwrap();
            let equal = split_plan(longest, 256, auto_splits(24, 396));
            (equal, ragged_plan(&coded, 3, (256, 64), 396, equal))
        };
        let (equal, ragged) = smol(8192);
        assert_eq!((equal, ragged.tokens_per_split), (ragged, 1024));
        let (equal, ragged) = smol(32768);
        assert_eq!(
            (equal.tokens_per_split, ragged.tokens_per_split),
            (3840, 2048)
        );
        // Equal lengths keep the plan from the longest.
        for (batch, coded) in [(1, 32640), (8, 32640), (64, 8064), (3, 100)] {
            let lengths = vec![coded; batch];
            let equal = split_plan(coded, 256, auto_splits(batch * 8, 396));
            assert_eq!(plan_of(&lengths, 8, 256, 396), equal, "{batch} x {coded}");
        }
        // More sequences than one wave holds: from the longest.
        let many: Vec<usize> = (0..64).map(|i| 128 * (i + 1)).collect();
        let equal = split_plan(8192, 256, auto_splits(512, 396));
        assert_eq!(plan_of(&many, 8, 256, 396), equal);
        // Any ragged batch: every row covered, whole tiles, pieces no longer than from the
        // longest, within max_splits' bound; a changed plan fits one wave and two of grid.
        let mut state = 7u64;
        let mut next = |n: usize| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            (state >> 33) as usize % n
        };
        for _ in 0..2000 {
            let (batch, kv_heads) = (1 + next(40), [1, 2, 3, 8][next(4)]);
            let (tile, slots) = ([64, 128, 256][next(3)], [132, 264, 396, 528][next(4)]);
            let cap = [300, 5000, 140_000][next(3)];
            let coded: Vec<usize> = (0..batch).map(|_| next(cap)).collect();
            let longest = coded.iter().copied().max().unwrap();
            let heads = batch * kv_heads;
            let equal = split_plan(longest, tile, auto_splits(heads, slots));
            let head_dim = [64, 128][next(2)];
            let p = ragged_plan(&coded, kv_heads, (tile, head_dim), slots, equal);
            let piece = p.tokens_per_split as usize;
            assert!(piece.is_multiple_of(tile) && piece <= equal.tokens_per_split as usize);
            assert!(
                p.splits as usize * piece >= longest.max(1),
                "{coded:?}: {p:?}"
            );
            let bound = max_splits(
                longest,
                tile,
                auto_splits(heads, slots).max(ragged_grid_splits(heads, slots)),
            );
            assert!(p.splits <= bound, "{coded:?}: {p:?} over {bound}");
            if p != equal {
                let blocks: usize = coded.iter().map(|c| kv_heads * c.div_ceil(piece)).sum();
                assert!(blocks <= slots, "{coded:?}: {blocks} blocks");
                assert!(heads * p.splits as usize <= 2 * slots, "{coded:?}: {p:?}");
            }
        }
    }

    #[test]
    fn plans_cover_every_row_and_never_exceed_the_bound_of_a_longer_sequence() {
        for tile in [64, 128, 256, 512] {
            for wanted in [1, 2, 7, 11, 14, 22, 64, 176] {
                let capacity = 8064;
                let bound = max_splits(capacity, tile, wanted);
                let mut seen_more_than_full = false;
                for longest in 0..=capacity {
                    let p = split_plan(longest, tile, wanted);
                    assert!(p.splits >= 1 && (p.tokens_per_split as usize).is_multiple_of(tile));
                    assert!(
                        (p.splits * p.tokens_per_split) as usize >= longest,
                        "{longest} rows, tile {tile}, {wanted} wanted: {p:?} does not cover"
                    );
                    assert!(
                        p.splits <= bound,
                        "{longest} rows: {p:?} over the bound {bound}"
                    );
                    seen_more_than_full |= p.splits > split_plan(capacity, tile, wanted).splits;
                }
                // Why the bound exists: with 14 wanted over 256-token tiles, 7000 rows split in
                // 14 but 8064 in 11.
                if (tile, wanted) == (256, 14) {
                    assert!(seen_more_than_full);
                }
            }
        }
    }
}
