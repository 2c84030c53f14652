//! The tensor-core variant of the fused kernel (`KeyScoring::Mma`).
//!
//! Lanes decode centroids straight into `mma.m16n8k16` fragments, so nothing decoded goes
//! through shared memory:
//! - scores, in one of two forms ([`KernelConfig::key_token_rows`]):
//!   - heads as rows (`cuda/mma/key_rows_heads.cuh`): `S[heads, tokens] = Q[heads, dims] ·
//!     Kᵀ[dims, tokens]`, the query heads as the 16 rows (rows 8-15: the split query's low
//!     part, or zeros), 8 tokens per n-tile. Lane `(g, q)` = `(lane / 4, lane % 4)` decodes
//!     token `g` of each n-tile, its quarter `q` of the head dims.
//!   - tokens as rows (`cuda/mma/key_rows_tokens.cuh`): `Sᵀ[tokens, heads] = K · Qᵀ`, a slab's
//!     16 tokens as the rows, the heads as the 8 columns. Lane `(g, q)` decodes tokens `g` and
//!     `g + 8`, its quarter `q` of the dims. One mma scores 16 tokens where the other form's
//!     scores 8 (with the split query, a second mma takes the low part, which the other form
//!     carries in its padding rows); the A fragment costs register moves, and the
//!     probabilities a transpose.
//!
//!   Because a dot product does not care how dims are ordered, the k-slots `2q, 2q+1, 2q+8,
//!   2q+9` of chunk `j` hold dims `q·D/4 + 4j .. + 4` of both operands: one 8-byte centroid
//!   read per token and chunk.
//! - values: lane `(g, q)` decodes tokens `2q, 2q+1, 2q+8, 2q+9` of a 16-token slab, its eighth
//!   `g` of the dims, in one of two layouts:
//!   - groups of up to 4 heads (`PAIRED_VALUES`): the rows are pairs of dims, the k-slots a
//!     token's two dims of a pair (its parity), the 8 columns 4 heads × 2 parities:
//!     `O[dim pairs, (head, parity)] += V[dim pairs, (token, parity)] · P'[(token, parity),
//!     (head, parity)]`, where `P'` holds `P[head, token]` where the parities agree and zero
//!     elsewhere. An 8-byte centroid read is then two registers of the A fragment as they
//!     are (no byte permutes), and one mma per 32 dims and 8 tokens accumulates into half
//!     the registers of the other layout. The key mma's padding columns (or rows) repeat the
//!     heads (`query_head`), so that every lane's probabilities are a head's.
//!   - larger groups: `Oᵀ[dims, heads] += Vᵀ[dims, tokens] · Pᵀ[tokens, heads]`; m-block `i`
//!     holds dims `g·D/8 + 2i` (row `g`) and `+1` (row `g+8`), the A fragment built by byte
//!     permutes of two tokens' centroids.
//!
//!   With the heads as the key rows, the score fragments already hold a head's probabilities
//!   of tokens `2q, 2q+1`; with the tokens as rows, one `movmatrix` per 8 × 8 block of tokens
//!   by heads transposes them into that.
//! - centroid addresses: for 2-bit books (d4b8 on both sides, 16 copies) both books are one
//!   table of 256-byte entries and a code becomes the offset of its lane's copy within the
//!   table by one byte permute ([`KernelConfig::offset_codes`]), plus the table's base;
//!   otherwise a permute extracts the code and a shift-add makes the address.
//! - online softmax per warp (each lane keeps the heads of its score fragments:
//!   `query_head(g)`, or `query_head(2q)` and `query_head(2q+1)`); the warps' partial results
//!   are merged through shared memory at the end.

use crate::blocks::{TILE_PIPELINE, mma_kernel};
use crate::config::KernelConfig;

/// Constants of the mma layout, on top of [`crate::blocks::constants`].
pub fn constants(c: &KernelConfig) -> String {
    format!(
        r#"// mma layout: chunks of 16 dims, each warp's share of a tile in 16-token slabs.
static constexpr int CHUNKS = HEAD_DIM / 16;
static constexpr int WARP_TOKENS = TILE / WARPS;
static constexpr int SLABS = WARP_TOKENS / 16;
static constexpr int K_SPAN = HEAD_DIM / 4 / K_SUB;  // codes of a key one lane decodes
static constexpr int V_SPAN = HEAD_DIM / 8 / V_SUB;  // codes of a value one lane decodes
// Copies of each codebook in shared memory (KernelConfig::book_copies).
static constexpr int K_COPIES = {key_copies};
// The key book as e4m3, 8 bytes a centroid (BookFormat::E4m3; one copy, 8-dim centroids).
static constexpr bool E4M3_KEYS = {e4m3_keys};
static constexpr int V_COPIES = {value_copies};
static constexpr int QUERY_PARTS = {parts};  // fp16 parts of the query (hi, then lo)
// Values as dim pairs against (token, parity) (slabs.cuh): groups of up to 4 heads.
static constexpr bool PAIRED_VALUES = {paired};
static constexpr int ACC_BLOCKS = PAIRED_VALUES ? HEAD_DIM / 32 : CHUNKS;  // output fragments
// The duplicate lanes of paired values hold heads >= 4, which only groups of 5-8 store.
static_assert(!PAIRED_VALUES || GROUP <= 4, "paired values take groups of up to 4 heads");
// Codes as byte offsets into one table of both codebooks (KernelConfig::offset_codes).
static constexpr bool OFFSET_CODES = {offset_codes};
static_assert(!OFFSET_CODES || (K_SUB == 4 && V_SUB == 4 && K_COPIES == 16 && V_COPIES == 16 && K_BOOK == 256 && V_BOOK == 256),
              "offset codes address 256-byte entries of 16 copies of 4-dim centroids");
"#,
        key_copies = c.book_copies(c.key_codec),
        e4m3_keys = c.key_book == crate::BookFormat::E4m3,
        value_copies = c.book_copies(c.value_codec),
        parts = if c.split_query { 2 } else { 1 },
        paired = c.group <= 4,
        offset_codes = c.offset_codes(),
    )
}

/// Everything between the shared constants/helpers and the merge kernel.
pub fn body(c: &KernelConfig, entry: &str) -> String {
    [
        constants(c),
        include_str!("cuda/mma/fragments.cuh").to_string(),
        include_str!("cuda/mma/slabs.cuh").to_string(),
        if c.key_token_rows {
            include_str!("cuda/mma/key_rows_tokens.cuh")
        } else {
            include_str!("cuda/mma/key_rows_heads.cuh")
        }
        .to_string(),
        if c.direct_codes {
            String::new()
        } else {
            TILE_PIPELINE.to_string()
        },
        mma_kernel(c, entry),
    ]
    .join("\n")
}
