// Split hand-off: the blocks of one (batch entry, KV head) count themselves out on
// `split_counters[pair]` once their partial results are written; the last one to finish merges
// all splits of its GROUP query heads into the output (merge.cuh) and resets the counter for the
// next launch. One launch instead of attention + merge: the merge's launch latency and its wait
// for the attention's slowest block are gone (bench/results/kernel-s10). The counters start at
// zero (the runtime allocates them so) and are zero again after every launch that ran to its end.
// Every thread of the block calls it, after its last write of the partials; the block's shared
// memory is free by then and serves as the merge's scratch. Not inlined, and it reads its place
// in the grid itself: inlined, the values it needs stayed live through the main loop (168 -> 173
// registers for the default 2-bit kernel, one resident block per SM fewer).
__device__ __forceinline__ void finish_split(const float* partial_out, const float* partial_max, const float* partial_sum,
                                          unsigned* split_counters, unsigned short* out, float* scratch) {
    const int splits = gridDim.x;
    const size_t pair = (size_t)blockIdx.z * gridDim.y + blockIdx.y;  // (batch entry, KV head)
    // The barrier orders the block's partial writes before thread 0's fence (cumulativity), and
    // the fence before its count: a block that sees the count sees the partials.
    __syncthreads();
    bool last = false;
    if (threadIdx.x == 0) {
        __threadfence();
        last = atomicAdd(split_counters + pair, 1u) + 1u == (unsigned)splits;
        if (last) split_counters[pair] = 0u;  // every split has counted: ready for the next launch
    }
    if (!__syncthreads_or(last)) return;
    __threadfence();  // the other splits' partials are read after their counts
    for (int head = 0; head < GROUP; ++head)
        merge_split_row<THREADS>(partial_out, partial_max, partial_sum, out, pair * GROUP + head, splits, scratch);
}
