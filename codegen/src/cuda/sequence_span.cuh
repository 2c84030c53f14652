    // Stage: the sequence (both attention families). The kernel may have started while the
    // append before it still ran (dependent_launch.cuh): above this line only constant data
    // (the codebooks) is read; from here on, the lengths, the fp16 tokens and the code rows.
    wait_for_predecessor();
    allow_dependents();
    const SequenceView view = sequence_view(seq_len, seq_slot, page_indptr, page_indices, geometry, entry);
    // The coded rows [begin, end) of this split, in tiles of TILE.
    const int begin = split * tokens_per_split;
    const int end = min(view.coded, begin + tokens_per_split);
    const int tiles = begin < end ? (end - begin + TILE - 1) / TILE : 0;
    // A launch whose splits do not cover the sequence would drop tokens: poison the result.
    const bool covered = view.coded <= (long long)splits * tokens_per_split;
