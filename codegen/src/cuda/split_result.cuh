// Stage: split result (epilogue of both attention families). One query head's running max and
// sum of this split at its partial row (batch_pieces.cuh), for the split merge; a split of an
// entry whose pieces do not cover it poisons the sum, so the merge writes NaN instead of
// silently dropping tokens.
__device__ __forceinline__ void store_split_state(float* __restrict__ partial_max, float* __restrict__ partial_sum, size_t part,
                                                  float max, float sum, bool covered) {
    partial_max[part] = max;
    partial_sum[part] = covered ? sum : QUIET_NAN;
}
