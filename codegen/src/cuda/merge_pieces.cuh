    // Prelude of the VQ attention's merge: output row `row` keeps its entry's pieces at row *
    // stride + p (batch_pieces.cuh), so their loads need not wait for the table; how many there
    // are, and whether the table is the launch's own (else NaN), arrive beside them. Both reads
    // come before the wait: the table is static. The partials are the attention kernel's (this
    // may start before it ends: see dependent_launch.cuh); the next kernel may start its
    // prologue meanwhile.
    const size_t row = blockIdx.x;
    const int tid = threadIdx.x;
    const bool current = table_is_current(work, generation, pieces, batch, tokens_per_split);
    const int count = entry_piece_count(work, pieces, (int)(row / (kv_heads * GROUP)));
    wait_for_predecessor();
    allow_dependents();
    if (!current) {
        for (int e = tid; e < HEAD_DIM; e += MERGE_THREADS) out[row * HEAD_DIM + e] = convert_output(QUIET_NAN);
        return;
    }
    const int splits = min(max(count, 1), stride);
    const size_t first_part = row * stride;
