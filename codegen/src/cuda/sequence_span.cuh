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
    // The piece's place, in shared memory (the query transform's barrier publishes it). Held in
    // registers across the coded loop, these loaded values (which the compiler cannot recompute
    // from blockIdx as it did before the work list) made the paged default kernel spill 44 bytes
    // (12 before); read back, 4.
    // - piece_begin: its first coded row, which the direct coded loop reads back each tile;
    // - piece_part: its first partial row (query head g's at + g * stride), for the epilogue;
    // - piece_covered: false poisons the partials, or a one-piece launch's output rows (a
    //   table that is not the launch's own, or pieces that do not cover the sequence, would
    //   drop tokens).
    __shared__ size_t piece_part;
    __shared__ int piece_begin;
    if (tid == 0) piece_begin = begin;
    __shared__ bool piece_covered;
    if (tid == 0) {
        piece_part = row0 * stride + split;
        piece_covered = item.current && view.coded <= (long long)splits * tokens_per_split;
    }
