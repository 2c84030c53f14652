    // Stage: split merge, first across the block's warps: each warp's max, sum and output
    // fragments into shared memory, then the split's partial result (unnormalised), or under
    // a one-piece plan the output row itself (split_result.cuh).
    store_run_state(run, warp_state, warp);
    // The warp outputs may lie over the codebooks (SharedLayout): wait until no warp reads them.
    if constexpr (OFF_OUTPUT < OFF_QUERY_T) __syncthreads();
    #pragma unroll
    for (int i = 0; i < ACC_BLOCKS; ++i) {
        #pragma unroll
        for (int e = 0; e < 4; ++e) {
            // Paired values: lanes q and q + 2 hold the same heads, other dims (acc_dim).
            const int head = acc_head(e), dim = acc_dim(i, e);
            if (head < GROUP) warp_out[(warp * GROUP + head) * HEAD_DIM + dim] = acc[i][e];
        }
    }
    __syncthreads();
    const size_t part0 = piece_part;
    const bool covered = piece_covered;
    for (int e = tid; e < GROUP * HEAD_DIM; e += THREADS) {
        const int head = e / HEAD_DIM, dim = e % HEAD_DIM;
        float m = NEG_INF;
        for (int w = 0; w < WARPS; ++w) m = fmaxf(m, warp_state[(w * 2) * GROUP + head]);
        const float base = m == NEG_INF ? 0.f : m;
        float value = 0.f, total = 0.f;
        for (int w = 0; w < WARPS; ++w) {
            const float f = __expf(warp_state[(w * 2) * GROUP + head] - base);
            value += f * warp_out[(w * GROUP + head) * HEAD_DIM + dim];
            total += f * warp_state[(w * 2 + 1) * GROUP + head];
        }
        const size_t part = part0 + (size_t)head * stride;
        if (stride == 1) {
            out[part * HEAD_DIM + dim] = row_output(value, total, covered);  // part is the row
        } else {
            partial_out[part * HEAD_DIM + dim] = value;
            if (dim == 0) store_split_state(partial_max, partial_sum, part, m, total, covered);
        }
    }
    if (stride == 1 && !covered) poison_one_piece_rows(out, batch, kv_heads, kv_head);
