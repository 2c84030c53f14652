    // Stage: the sequence (both attention families). The kernel may have started while the
    // append before it still ran (dependent_launch.cuh): above this line only constant data
    // (the codebooks) is read; from here on, the lengths, the fp16 tokens and the code rows.
    wait_for_predecessor();
    allow_dependents();
    const int split = item.split, splits = item.splits, entry = item.entry;
    const size_t row0 = (size_t)(entry * kv_heads + kv_head) * GROUP;  // first query head's output row
    const SequenceView view = sequence_view(seq_len, seq_slot, page_indptr, page_indices, geometry, entry);
    // The coded rows [begin, end) of this split, in tiles of TILE.
    const int begin = split * tokens_per_split;
    const int end = min(view.coded, begin + tokens_per_split);
    const int tiles = begin < end ? (end - begin + TILE - 1) / TILE : 0;
    // For the epilogue, in shared memory (the query transform's barrier publishes it; held in
    // registers across the coded loop, it raised the default kernel's spills): the piece's first
    // partial row (query head g's at + g * stride), and whether to poison them. A table that
    // is not the launch's own, or pieces that do not cover the sequence, would drop tokens.
    __shared__ size_t piece_part;
    // The piece's first row, which the direct coded loop reads back each tile. Held in a
    // register across the loop (a loaded value, which the compiler cannot recompute from
    // blockIdx as it did before the work list), the paged default kernel spilled 44 bytes
    // (12 before); read back, 4.
    __shared__ int piece_begin;
    if (tid == 0) piece_begin = begin;
    __shared__ bool piece_covered;
    if (tid == 0) {
        piece_part = row0 * stride + split;
        piece_covered = item.current && view.coded <= (long long)splits * tokens_per_split;
    }
