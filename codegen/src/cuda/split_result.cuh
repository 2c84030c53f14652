// Stage: split result (epilogue of both attention families). One query head's running max and
// sum of this split, for the split merge; a split that does not cover its sequence poisons the
// sum so the merge writes NaN instead of silently dropping tokens.
__device__ __forceinline__ void store_split_state(float* __restrict__ partial_max, float* __restrict__ partial_sum, size_t row,
                                                  int split, int splits, float max, float sum, bool covered) {
    partial_max[row * splits + split] = max;
    partial_sum[row * splits + split] = covered ? sum : QUIET_NAN;
}
