// The key mma with the query heads as its rows (key_token_rows false): S[heads, tokens] = Q · Kᵀ,
// 8 tokens an mma (the n-tiles), rows 8-15 the split query's low part or zeros. Row g is query
// head query_head(g): with paired values, rows 4-7 repeat heads 0-3, and those lanes' scores,
// max and probabilities must stay bit-equal to the first copy's (the same query row, no mask
// that depends on g): the value mma's parity-1 columns take their probabilities from them,
// while the running state is stored, and the corrections taken, from rows below GROUP only.
// Lane (g, q) keeps its head's running max and its share of the running sum; the scores'
// fragments are already a head's probabilities of tokens 2q, 2q + 1 (value_probabilities).

// A slab's scores: s[n][0..1], query head query_head(g) against tokens 8n + 2q and 8n + 2q + 1.
typedef float SlabScores[2][4];
struct RunState {
    float max = NEG_INF, sum = 0.f;  // head query_head(g)'s
};

// Scores of both query parts: rows g + 8 (c2, c3) into rows g (c0, c1).
__device__ __forceinline__ void fold_query_parts(float (&s)[2][4]) {
    if constexpr (QUERY_PARTS == 2) {
        #pragma unroll
        for (int n = 0; n < 2; ++n) {
            s[n][0] += s[n][2];
            s[n][1] += s[n][3];
        }
    }
}

// Stage: scores of a slab of coded keys. codes[n]: this lane's quarter of token 8n + g.
// s[n][0..1]: query head query_head(g) against tokens 8n + 2q and 8n + 2q + 1 of the slab (s[n][2..3]: the
// split query's low-part rows, already folded into s[n][0..1], or zero).
__device__ __forceinline__ void score_coded_slab(const int (&codes)[2][K_SPAN], const unsigned (&query)[CHUNKS][4],
                                                 const unsigned short* key_book, SlabScores& s) {
    const unsigned short* book = lane_codebook<K_SUB, K_COPIES>(key_book);
    #pragma unroll
    for (int n = 0; n < 2; ++n) {
        #pragma unroll
        for (int e = 0; e < 4; ++e) s[n][e] = 0.f;
        #pragma unroll
        for (int j = 0; j < CHUNKS; ++j) {
            const uint2 k = key_dims4<K_SPAN>(book, codes[n], j);
            mma_16x8x16(s[n], query[j][0], query[j][1], query[j][2], query[j][3], k.x, k.y);
        }
    }
    fold_query_parts(s);
}

// Stage: scores of a slab of slot keys (sinks and the residual window), read from global memory.
__device__ __forceinline__ void score_fp16_slab(const HeadSlots& keys, int count, int slab, const SlabScales& scales,
                                                const unsigned (&query)[CHUNKS][4], SlabScores& s) {
    const int lane = threadIdx.x & 31, g = lane >> 2, quarter = lane & 3;
    #pragma unroll
    for (int n = 0; n < 2; ++n) {
        const int token = slab + 8 * n + g;
        const SlotRow row{keys.words + (size_t)token * SLOT_WORDS, scales.key[n]};
        #pragma unroll
        for (int e = 0; e < 4; ++e) s[n][e] = 0.f;
        #pragma unroll
        for (int j = 0; j < CHUNKS; ++j) {
            uint2 k;
            k.x = k.y = 0u;
            if (token < count) k = slot_halves4(row, quarter * (HEAD_DIM / 4) + 4 * j);
            mma_16x8x16(s[n], query[j][0], query[j][1], query[j][2], query[j][3], k.x, k.y);
        }
    }
    fold_query_parts(s);
}

// Stage: online softmax over NS slabs starting at token `first`, per warp. Tokens at or past
// `valid` are masked. Leaves the probabilities as Pᵀ's B fragments, rescales the running sum
// (this lane's share) and the output fragments (which hold heads acc_head(0) and acc_head(1)).
template <int NS> __device__ __forceinline__ void online_softmax(SlabScores (&s)[NS], int first, int valid, RunState& run,
                                                                 float (&acc)[ACC_BLOCKS][4], unsigned (&p)[NS][2]) {
    const int quarter = threadIdx.x & 3;
    float tile_max = NEG_INF;
    #pragma unroll
    for (int sl = 0; sl < NS; ++sl) {
        #pragma unroll
        for (int n = 0; n < 2; ++n) {
            #pragma unroll
            for (int e = 0; e < 2; ++e) {
                if (first + 16 * sl + 8 * n + 2 * quarter + e >= valid) s[sl][n][e] = NEG_INF;
                tile_max = fmaxf(tile_max, s[sl][n][e]);
            }
        }
    }
    tile_max = fmaxf(tile_max, __shfl_xor_sync(FULL_MASK, tile_max, 1));
    tile_max = fmaxf(tile_max, __shfl_xor_sync(FULL_MASK, tile_max, 2));
    const float new_max = fmaxf(run.max, tile_max);
    const float base = new_max == NEG_INF ? 0.f : new_max;  // nothing seen yet: keep exp finite
    const float correction = __expf(run.max - base);
    run.max = new_max;
    float sum = 0.f;
    #pragma unroll
    for (int sl = 0; sl < NS; ++sl) {
        #pragma unroll
        for (int n = 0; n < 2; ++n) {
            const float p0 = __expf(s[sl][n][0] - base), p1 = __expf(s[sl][n][1] - base);
            sum += p0 + p1;
            p[sl][n] = pack_half2(p0, p1);
        }
    }
    run.sum = run.sum * correction + sum;
    // The output fragments' heads' corrections, from lanes (acc_head(e), 0).
    const float c0 = __shfl_sync(FULL_MASK, correction, 4 * acc_head(0));
    const float c1 = __shfl_sync(FULL_MASK, correction, 4 * acc_head(1));
    #pragma unroll
    for (int i = 0; i < ACC_BLOCKS; ++i) {
        acc[i][0] *= c0; acc[i][1] *= c1; acc[i][2] *= c0; acc[i][3] *= c1;
    }
}

// The warp's running max and sum of each head, into warp_state ([WARPS][2][GROUP]).
__device__ __forceinline__ void store_run_state(RunState run, float* warp_state, int warp) {
    const int g = (threadIdx.x & 31) >> 2, quarter = threadIdx.x & 3;
    run.sum += __shfl_xor_sync(FULL_MASK, run.sum, 1);
    run.sum += __shfl_xor_sync(FULL_MASK, run.sum, 2);
    if (quarter == 0 && g < GROUP) {
        warp_state[(warp * 2) * GROUP + g] = run.max;
        warp_state[(warp * 2 + 1) * GROUP + g] = run.sum;
    }
}
