// Stage: split result (epilogue of both attention families). One query head's running max and
// sum of this split at its partial row (batch_pieces.cuh), for the split merge; a split of an
// entry whose pieces do not cover it poisons the sum, so the merge writes NaN instead of
// silently dropping tokens. Under a one-piece plan, the output row instead (below).
__device__ __forceinline__ void store_split_state(float* __restrict__ partial_max, float* __restrict__ partial_sum, size_t part,
                                                  float max, float sum, bool covered) {
    partial_max[part] = max;
    partial_sum[part] = covered ? sum : QUIET_NAN;
}

// A plan of one piece per entry (stride 1): the piece's result is its row's, normalised here,
// and the runtime launches no merge (at 128 x 4k the merge's 4096 blocks, one partial row
// each, took 16 us under Nsight Compute: bench/results/kernel-s33). The merge's arithmetic for
// one split (whose weight is exp(0) = 1), so the output is the same to the bit; an uncovered
// piece (or a table not the launch's own) gives NaN.
__device__ __forceinline__ unsigned short row_output(float value, float total, bool covered) {
    return convert_output(!covered ? QUIET_NAN : total == 0.f ? 0.f : value / total);
}

// An uncovered piece of a one-piece plan: NaN at block x's rows as well, since block x is
// entry x under such a plan, also from a table not the launch's own, whose stand-in item
// (entry 0) would leave the other entries' rows unwritten. Here, after the piece's own stores,
// rather than in the prologue: a stand-in of entry blockIdx.x (or an item taken from blockIdx
// without the table under such plans) made SmolLM2's attention 3-5% slower
// (bench/results/kernel-s33). The runtime launches pieces = batch blocks then; the bound keeps
// any other launch in the buffer.
__device__ __forceinline__ void poison_one_piece_rows(unsigned short* __restrict__ out, int batch, int kv_heads, int kv_head) {
    if ((int)blockIdx.x >= batch) return;
    const size_t row0 = ((size_t)blockIdx.x * kv_heads + kv_head) * GROUP;
    for (int e = threadIdx.x; e < GROUP * HEAD_DIM; e += THREADS) out[row0 * HEAD_DIM + e] = convert_output(QUIET_NAN);
}
