//! The named building blocks of the fused kernels. The static CUDA lives in `cuda/*.cuh`; this
//! module emits what depends on the config (the constants, the signatures) and stitches the
//! stages of each kernel family together. Constants (`HEAD_DIM`, `TILE`, ...) come first, so
//! every `.cuh` may use them.

use crate::config::{CodeLayout, KernelConfig, KeyScoring, OutputDtype};
use crate::layout::SharedLayout;

/// Compile-time constants of one config.
pub fn constants(c: &KernelConfig, l: &SharedLayout) -> String {
    let kc = c.key_codec;
    let vc = c.value_codec;
    format!(
        r#"static constexpr int HEAD_DIM = {d};
static constexpr int GROUP = {g};
static constexpr int THREADS = {threads};
static constexpr int WARPS = {warps};
static constexpr int TILE = {tile};
static constexpr int STAGES = {stages};
static constexpr int K_SUB = {ks}, K_BITS = {kb}, K_ROW = {krow}, K_BOOK = {kbook};
static constexpr int K_CODES = {kcodes};  // codes per key (LUT rows per query head)
static constexpr int V_SUB = {vs}, V_BITS = {vb}, V_ROW = {vrow}, V_BOOK = {vbook};
static constexpr bool PER_HEAD_CODEBOOKS = {per_head};
static constexpr bool SMOOTH = {smooth};
static constexpr bool HADAMARD = {hadamard};
static constexpr bool LUT_SCORING = {lut};
// Code rows: {layout_comment}
static constexpr bool PAGED = {paged};
static constexpr int PAGE_TOKENS = {page_tokens};
// Sinks and window: int8 rows with an f16 scale each, or f16 rows (cache_view.cuh).
static constexpr bool SLOT_INT8 = {slot_int8};
// A token is scored and accumulated by LANES_PER_TOKEN lanes, each owning DIMS_PER_LANE dims.
static constexpr int DIMS_PER_LANE = {dpl};
static constexpr int LANES_PER_TOKEN = HEAD_DIM / DIMS_PER_LANE;
static constexpr int TOKENS_PER_STEP = 32 / LANES_PER_TOKEN;  // per warp
static constexpr float SOFTMAX_SCALE = {scale:.9e}f;
// Shared-memory offsets (bytes).
static constexpr int OFF_KEY_BOOK = {o_kb}, OFF_VALUE_BOOK = {o_vb}, OFF_QUERY_T = {o_qt}, OFF_QUERY = {o_q};
static constexpr int OFF_SCORES = {o_s}, OFF_LUT = {o_lut}, OFF_KEY_TILES = {o_kt}, OFF_VALUE_TILES = {o_vt}, OFF_REDUCTION = {o_r};
static constexpr int OFF_OUTPUT = {o_out};
"#,
        d = c.head_dim,
        g = c.group,
        threads = c.threads(),
        warps = c.warps,
        tile = c.tile_tokens,
        stages = c.stages,
        ks = kc.sub_dim(),
        kb = kc.bits(),
        kcodes = c.head_dim / kc.sub_dim(),
        krow = c.key_row_bytes(),
        kbook = kc.codebook_size(),
        vs = vc.sub_dim(),
        vb = vc.bits(),
        vrow = c.value_row_bytes(),
        vbook = vc.codebook_size(),
        per_head = c.granularity == vecinfer_quant::Granularity::Head,
        smooth = c.transform.smooth,
        hadamard = c.transform.hadamard,
        scale = 1.0 / (c.head_dim as f64).sqrt(),
        o_kb = l.key_codebook,
        o_vb = l.value_codebook,
        o_qt = l.query_transformed,
        o_q = l.query_plain,
        o_s = l.scores,
        o_lut = l.lut,
        o_kt = l.key_tiles,
        o_vt = l.value_tiles,
        o_r = l.reduction,
        o_out = l.output,
        dpl = c.dims_per_lane,
        lut = c.key_scoring == KeyScoring::Lut,
        paged = c.layout != CodeLayout::Contiguous,
        page_tokens = c.layout.page_tokens().unwrap_or(0),
        slot_int8 = c.window == vecinfer_quant::WindowPrecision::Int8,
        layout_comment = match c.layout {
            CodeLayout::Contiguous => "a fixed region per (sequence slot, KV head).".to_string(),
            CodeLayout::Paged { page_tokens } =>
                format!("pages of {page_tokens} tokens from a pool, by block table."),
        },
    )
}

/// Helpers every kernel uses: conversions, `cp.async`, code reads, warp reductions.
pub const COMMON: &str = concat!(
    include_str!("cuda/common.cuh"),
    "\n",
    include_str!("cuda/dependent_launch.cuh")
);
/// `griddepcontrol` helpers (programmatic dependent launch); part of [`COMMON`], and of the
/// forward module, which has its own helpers.
pub const DEPENDENT_LAUNCH: &str = include_str!("cuda/dependent_launch.cuh");
/// The one place that maps (batch entry, KV head, token) to an address.
pub const CACHE_VIEW: &str = include_str!("cuda/cache_view.cuh");
/// How an int8 slot row is made: for the append, the flush and the forward module's QKV
/// projections, which write them.
pub const INT8_ROWS: &str = include_str!("cuda/int8_rows.cuh");
/// The epilogue both attention families share: a split's running max and sum.
pub const SPLIT_RESULT: &str = include_str!("cuda/split_result.cuh");
/// Stage "async tile pipeline" (cp.async into shared memory), both families.
pub const TILE_PIPELINE: &str = include_str!("cuda/tile_pipeline.cuh");
/// The prologue both attention families share.
const ATTENTION_PROLOGUE: &str = include_str!("cuda/attention_prologue.cuh");
/// Stage "the sequence": waits for the previous kernel, then this block's rows; both families.
const SEQUENCE_SPAN: &str = include_str!("cuda/sequence_span.cuh");
/// Stage "query transform", both families.
const QUERY_TRANSFORM: &str = include_str!("cuda/query_transform.cuh");

/// The fused kernel's signature, shared by every variant and layout (the runtime launches
/// them alike, a block of THREADS per piece of the work list and KV head: grid (pieces,
/// kv_heads)).
pub fn kernel_signature(entry: &str, min_blocks_per_sm: usize) -> String {
    // The bound's second argument only when set, so unbounded configs keep their source.
    let bounds = match min_blocks_per_sm {
        0 => "THREADS".to_string(),
        b => format!("THREADS, {b}"),
    };
    format!(
        r#"extern "C" __global__ void __launch_bounds__({bounds}) {entry}(
    const unsigned short* __restrict__ query,            // [batch, kv_heads * GROUP, HEAD_DIM] f16
    const unsigned char* __restrict__ key_codes,         // [slots, kv_heads, code_extent, K_ROW] or [pages, kv_heads, PAGE_TOKENS, K_ROW]
    const unsigned char* __restrict__ value_codes,       // the same with V_ROW
    const unsigned short* __restrict__ key_codebooks,    // [1 or kv_heads, K_BOOK, K_SUB] f16
    const unsigned short* __restrict__ value_codebooks,  // [1 or kv_heads, V_BOOK, V_SUB] f16
    const float* __restrict__ smooth,                    // [kv_heads, HEAD_DIM]
    const unsigned short* __restrict__ fp16_keys,        // slot rows [slots, kv_heads, fp16_capacity, SLOT_WORDS] (cache_view.cuh)
    const unsigned short* __restrict__ fp16_values,      // same
    const int* __restrict__ seq_len,                     // [batch]: tokens of each batch entry
    const int* __restrict__ seq_slot,                    // [batch]: its sequence slot
    const int* __restrict__ page_indptr,                 // [batch + 1]: its pages, page_indices[indptr[b] .. indptr[b + 1]]
    const int* __restrict__ page_indices,                // page ids, in row order per entry (paged)
    CacheGeometry geometry,
    float* __restrict__ partial_out,                     // [batch, kv_heads * GROUP, stride, HEAD_DIM] (batch_pieces.cuh)
    float* __restrict__ partial_max,                     // [batch, kv_heads * GROUP, stride]
    float* __restrict__ partial_sum,                     // same
    unsigned short* __restrict__ out,                    // [batch, kv_heads * GROUP, HEAD_DIM]: written here when stride is 1 (split_result.cuh)
    int tokens_per_split,                                // coded rows of a piece, whole tiles
    const int4* __restrict__ work,                       // the work list's table (batch_pieces.cuh); stride: partial rows per output row
    unsigned generation,                                 // its upload's number
    int batch,
    int stride)"#
    )
}

/// A kernel: its signature and its stages in order.
fn kernel(signature: String, stages: &[&str]) -> String {
    format!("{signature} {{\n{}}}\n", stages.concat())
}

/// The CUDA-core family (LUT and dequantize scoring): helpers, then the kernel.
pub fn cuda_core_body(c: &KernelConfig, entry: &str) -> String {
    let lut = if c.key_scoring == KeyScoring::Lut {
        include_str!("cuda/cuda_core/lut_build.cuh")
    } else {
        ""
    };
    [
        include_str!("cuda/cuda_core/tiles.cuh").to_string(),
        TILE_PIPELINE.to_string(),
        kernel(
            kernel_signature(entry, c.min_blocks_per_sm),
            &[
                ATTENTION_PROLOGUE,
                include_str!("cuda/cuda_core/regions.cuh"),
                include_str!("cuda/cuda_core/codebook_load.cuh"),
                SEQUENCE_SPAN,
                QUERY_TRANSFORM,
                lut,
                include_str!("cuda/cuda_core/main_loop.cuh"),
            ],
        ),
    ]
    .join("\n")
}

/// The tensor-core family's kernel from its stages (helpers come from `mma`).
pub fn mma_kernel(c: &KernelConfig, entry: &str) -> String {
    let coded_loop = if c.direct_codes {
        include_str!("cuda/mma/direct_loop.cuh")
    } else {
        include_str!("cuda/mma/staged_loop.cuh")
    };
    kernel(
        kernel_signature(entry, c.min_blocks_per_sm),
        &[
            ATTENTION_PROLOGUE,
            include_str!("cuda/mma/codebook_load.cuh"),
            SEQUENCE_SPAN,
            QUERY_TRANSFORM,
            include_str!("cuda/mma/fp16_tokens.cuh"),
            coded_loop,
            include_str!("cuda/mma/warp_merge.cuh"),
        ],
    )
}

/// Where a split merge finds an output row's partial rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeRows {
    /// `splits` rows per output row, row r's at `r * splits` (the FP16 cache's decode attention).
    Uniform,
    /// The row's batch entry's pieces of the work list (`cuda/batch_pieces.cuh`), from a
    /// table of each entry's count, at row × stride (the VQ attention).
    Pieces,
}

/// `convert_output`, f32 to the output's 16-bit type: for the split merge, and for the VQ
/// attention's one-piece plans, which write the output themselves.
pub fn output_conversion(output: OutputDtype) -> String {
    let convert = match output {
        OutputDtype::F16 => "float_to_half",
        OutputDtype::Bf16 => "float_to_bf16",
    };
    format!(
        "__device__ __forceinline__ unsigned short convert_output(float x) {{ return {convert}(x); }}\n"
    )
}

/// Stage "split merge": log-sum-exp merge of the splits, normalisation, output conversion
/// (`convert_output`: [`output_conversion`] comes before it).
pub fn merge_kernel(entry: &str, rows: MergeRows) -> String {
    let (parameters, prelude) = match rows {
        MergeRows::Uniform => ("int splits", include_str!("cuda/merge_uniform.cuh")),
        MergeRows::Pieces => (
            r#"const int4* __restrict__ work, unsigned generation, int pieces, int batch,
    int tokens_per_split, int kv_heads, int stride"#,
            include_str!("cuda/merge_pieces.cuh"),
        ),
    };
    format!(
        r#"// grid: batch * q_heads blocks of MERGE_THREADS threads.
static constexpr int MERGE_THREADS = {threads};
extern "C" __global__ void __launch_bounds__(MERGE_THREADS) {entry}(
    const float* __restrict__ partial_out, const float* __restrict__ partial_max,
    const float* __restrict__ partial_sum, unsigned short* __restrict__ out, {parameters}) {{
{prelude}{body}}}
"#,
        body = include_str!("cuda/merge.cuh"),
        threads = crate::MERGE_THREADS,
    )
}

/// The work list's helpers (`cuda/batch_pieces.cuh`), for both VQ attention kernels.
pub const BATCH_PIECES: &str = include_str!("cuda/batch_pieces.cuh");
