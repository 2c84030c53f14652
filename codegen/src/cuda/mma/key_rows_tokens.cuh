// The key mma with a slab's 16 tokens as its rows (key_token_rows): Sᵀ[tokens, heads] = K · Qᵀ,
// the query heads as the 8 columns (column n: head query_head(n), zero from GROUP on). One mma
// per chunk scores the slab, where the heads as rows took two (with the split query, two for
// both forms: see below). Lane (g, q) keeps heads query_head(2q) and query_head(2q + 1), as its
// output fragments do (acc_head): the warp's running max, its share of the running sum. With
// paired values, columns 4-7 repeat heads 0-3, and lanes q >= 2 must keep state bit-equal to
// lanes q - 2 (the same query columns, no mask that depends on q): the value mma's parity-1
// columns take those lanes' probabilities, while only columns below GROUP are stored
// (store_run_state). The probabilities reach the value mma through one movmatrix transpose per
// 8 x 8 block of tokens by heads.
//
// The query fragments are query_fragments': b0, b1 of chunk j in [j][0], [j][2] and the low
// part's in [j][1], [j][3] (the A fragment's rows 8-15 under key_rows_heads.cuh). Its mma per
// part adds the low part into the same scores.
//
// H200 (bench/results/kernel-s34): the Llama shape (head dim 128, group 4) 4-5% faster than
// heads as rows at batch >= 8; SmolLM2's (64, 3) 0-5% slower in `bench`, 0-1% under Nsight
// Compute. Its 4 chunks amortise less of the A fragment's assembly (two centroid reads land as
// 2 + 2 halves of one quad: about 3 register moves per mma) and of the transposes.

// Online softmax, lazily rescaled: a tile whose scores exceed no head's running max by more than
// this keeps the max, so the warp skips the max's three shuffle levels and the rescale of its
// sums and output fragments (one vote instead). Probabilities then reach e^8 < 2981, inside
// f16 at the same relative precision. H200: the Llama shape 2-5% faster; in the heads form
// SmolLM2's moved -6..+8% (4 more registers), not kept there (bench/results/kernel-s34).
static constexpr float RESCALE_SLACK = 8.f;

// A slab's scores: s[2r + e], token 8r + g against query head query_head(2q + e).
typedef float SlabScores[4];
struct RunState {
    float max[2] = {NEG_INF, NEG_INF}, sum[2] = {0.f, 0.f};  // heads query_head(2q), query_head(2q + 1)
};

// The 8x8 f16 matrix whose row lane / 4, columns 2 (lane % 4) and + 1, this lane holds, transposed
// into the same layout: the scores' tokens-by-heads pairs become the probabilities' B fragment.
__device__ __forceinline__ unsigned transpose_8x8(unsigned m) {
    unsigned r;
    asm("movmatrix.sync.aligned.m8n8.trans.b16 %0, %1;" : "=r"(r) : "r"(m));
    return r;
}

// Stage: scores of a slab of coded keys, as Sᵀ[tokens, heads] = K[tokens, dims] · Qᵀ[dims, heads]:
// the slab's 16 tokens are the mma's rows, so one mma per chunk scores them all. codes[r]: this
// lane's quarter of token 8r + g. s[2r + e]: token 8r + g against query head query_head(2q + e).
__device__ __forceinline__ void score_coded_slab(const int (&codes)[2][K_SPAN], const unsigned (&query)[CHUNKS][4],
                                                 const unsigned short* key_book, SlabScores& s) {
    const unsigned short* book = lane_codebook<K_SUB, K_COPIES>(key_book);
    #pragma unroll
    for (int e = 0; e < 4; ++e) s[e] = 0.f;
    #pragma unroll
    for (int j = 0; j < CHUNKS; ++j) {
        const uint2 k0 = key_dims4<K_SPAN>(book, codes[0], j);
        const uint2 k1 = key_dims4<K_SPAN>(book, codes[1], j);
        #pragma unroll
        for (int part = 0; part < QUERY_PARTS; ++part) mma_16x8x16(s, k0.x, k1.x, k0.y, k1.y, query[j][part], query[j][2 + part]);
    }
}

// Stage: scores of a slab of slot keys (sinks and the residual window), read from global memory;
// s as score_coded_slab's.
__device__ __forceinline__ void score_fp16_slab(const HeadSlots& keys, int count, int slab, const SlabScales& scales,
                                                const unsigned (&query)[CHUNKS][4], SlabScores& s) {
    const int lane = threadIdx.x & 31, g = lane >> 2, quarter = lane & 3;
    SlotRow rows[2];
    #pragma unroll
    for (int r = 0; r < 2; ++r) rows[r] = SlotRow{keys.words + (size_t)(slab + 8 * r + g) * SLOT_WORDS, scales.key[r]};
    #pragma unroll
    for (int e = 0; e < 4; ++e) s[e] = 0.f;
    #pragma unroll
    for (int j = 0; j < CHUNKS; ++j) {
        uint2 k[2];
        #pragma unroll
        for (int r = 0; r < 2; ++r) {
            k[r].x = k[r].y = 0u;
            if (slab + 8 * r + g < count) k[r] = slot_halves4(rows[r], quarter * (HEAD_DIM / 4) + 4 * j);
        }
        #pragma unroll
        for (int part = 0; part < QUERY_PARTS; ++part)
            mma_16x8x16(s, k[0].x, k[1].x, k[0].y, k[1].y, query[j][part], query[j][2 + part]);
    }
}

// Stage: online softmax over NS slabs starting at token `first`, per warp. Tokens at or past
// `valid` are masked. Lane (g, q) keeps query heads acc_head(0) and acc_head(1)'s running max (the warp's) and
// its share of their running sums, the heads its output fragments hold. Leaves the probabilities
// as Pᵀ's B fragments: each 8x8 block of tokens by heads, transposed.
template <int NS> __device__ __forceinline__ void online_softmax(SlabScores (&s)[NS], int first, int valid, RunState& run,
                                                                 float (&acc)[ACC_BLOCKS][4], unsigned (&p)[NS][2]) {
    const int g = (threadIdx.x & 31) >> 2;
    float tile_max[2] = {NEG_INF, NEG_INF};
    #pragma unroll
    for (int sl = 0; sl < NS; ++sl) {
        #pragma unroll
        for (int r = 0; r < 2; ++r) {
            #pragma unroll
            for (int e = 0; e < 2; ++e) {
                if (first + 16 * sl + 8 * r + g >= valid) s[sl][2 * r + e] = NEG_INF;
                tile_max[e] = fmaxf(tile_max[e], s[sl][2 * r + e]);
            }
        }
    }
    // Lazy rescale (RESCALE_SLACK): warp-uniform, so the shuffles below see every lane.
    if (!__all_sync(FULL_MASK, tile_max[0] <= run.max[0] + RESCALE_SLACK && tile_max[1] <= run.max[1] + RESCALE_SLACK)) {
        float correction[2];
        #pragma unroll
        for (int e = 0; e < 2; ++e) {
            #pragma unroll
            for (int mask = 4; mask < 32; mask <<= 1)
                tile_max[e] = fmaxf(tile_max[e], __shfl_xor_sync(FULL_MASK, tile_max[e], mask));
            const float new_max = fmaxf(run.max[e], tile_max[e]);
            correction[e] = __expf(run.max[e] - (new_max == NEG_INF ? 0.f : new_max));
            run.max[e] = new_max;
            run.sum[e] *= correction[e];
        }
        #pragma unroll
        for (int i = 0; i < ACC_BLOCKS; ++i) {
            acc[i][0] *= correction[0]; acc[i][1] *= correction[1]; acc[i][2] *= correction[0]; acc[i][3] *= correction[1];
        }
    }
    float base[2], sum[2] = {0.f, 0.f};
    #pragma unroll
    for (int e = 0; e < 2; ++e) base[e] = run.max[e] == NEG_INF ? 0.f : run.max[e];  // nothing seen yet: keep exp finite
    #pragma unroll
    for (int sl = 0; sl < NS; ++sl) {
        #pragma unroll
        for (int r = 0; r < 2; ++r) {
            const float p0 = __expf(s[sl][2 * r] - base[0]), p1 = __expf(s[sl][2 * r + 1] - base[1]);
            sum[0] += p0;
            sum[1] += p1;
            p[sl][r] = transpose_8x8(pack_half2(p0, p1));
        }
    }
    #pragma unroll
    for (int e = 0; e < 2; ++e) run.sum[e] += sum[e];
}

// The warp's running max and sum of each head, into warp_state ([WARPS][2][GROUP]).
__device__ __forceinline__ void store_run_state(RunState run, float* warp_state, int warp) {
    const int g = (threadIdx.x & 31) >> 2, quarter = threadIdx.x & 3;
    #pragma unroll
    for (int e = 0; e < 2; ++e) {
        #pragma unroll
        for (int mask = 4; mask < 32; mask <<= 1) run.sum[e] += __shfl_xor_sync(FULL_MASK, run.sum[e], mask);
        const int head = 2 * quarter + e;
        if (g == 0 && head < GROUP) {
            warp_state[(warp * 2) * GROUP + head] = run.max[e];
            warp_state[(warp * 2 + 1) * GROUP + head] = run.sum[e];
        }
    }
}
