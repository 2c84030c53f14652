// A launch's work list, planned on the host (the runtime's SplitPlan): every batch entry's
// coded rows cut into `splits` pieces of `tokens_per_split` rows (whole tiles), numbered entry
// after entry. The attention grid's x runs over the list, so a short sequence launches fewer
// blocks than a long one (a grid of `longest / piece` splits for every entry left the short
// ones' blocks empty: bench/results/kernel-s31).
//
// The table, in int4s: a header {generation, pieces, batch, tokens_per_split}; item i of the list
// at 1 + i: {its entry, its piece, the entry's pieces, 0}; then each entry's pieces, an int each.
// It is static for the plan (uploaded before the launch, not written by a kernel), so both
// kernels read it before they wait for the previous kernel. The runtime numbers each upload
// into a workspace (the generation) and the launch passes the number: a CUDA graph replayed
// after another plan was uploaded into the same workspace finds it changed and writes NaN,
// never another plan's pieces.
//
// Partial results: output row r (batch entry, query head) keeps its pieces' at r * stride + p,
// stride the plan's most pieces of an entry, so that the merge finds them without waiting for
// the table (it reads each row's count beside them).

struct WorkItem {
    int entry, split, splits;
    bool current;  // the table is the launch's own
};

__device__ __forceinline__ bool table_is_current(const int4* __restrict__ work, unsigned generation, int pieces, int batch,
                                                 int tokens_per_split) {
    const int4 head = __ldg(work);
    return (unsigned)head.x == generation && head.y == pieces && head.z == batch && head.w == tokens_per_split;
}

// Block `item`'s item; from a table that is not the launch's own, a stand-in (entry 0, piece 0)
// whose rows are poisoned.
__device__ __forceinline__ WorkItem work_item(const int4* __restrict__ work, unsigned generation, int item, int batch,
                                             int tokens_per_split) {
    const bool current = table_is_current(work, generation, gridDim.x, batch, tokens_per_split);
    const int4 w = __ldg(work + 1 + item);
    return current ? WorkItem{w.x, w.y, w.z, true} : WorkItem{0, 0, 1, false};
}

// Entry `entry`'s pieces (the merge's side).
__device__ __forceinline__ int entry_piece_count(const int4* __restrict__ work, int pieces, int entry) {
    return __ldg(reinterpret_cast<const int*>(work + 1 + pieces) + entry);
}
