    // This lane's slice of the transformed queries, and of the output accumulator.
    float query_lane[GROUP][DIMS_PER_LANE], acc[GROUP][DIMS_PER_LANE], run_max[GROUP], run_sum[GROUP];
    #pragma unroll
    for (int g = 0; g < GROUP; ++g) {
        run_max[g] = NEG_INF;
        run_sum[g] = 0.f;
        #pragma unroll
        for (int x = 0; x < DIMS_PER_LANE; ++x) {
            query_lane[g][x] = query_t[g * HEAD_DIM + lane_part() * DIMS_PER_LANE + x];
            acc[g][x] = 0.f;
        }
    }

    // fp16 tokens (at most sinks + residual): the split holding the sequence's last coded row
    // takes them all (fp16_split).
    if (split == fp16_split(view.coded, tokens_per_split, splits)) {
        const HeadSlots keys = head_slots(fp16_keys, view, geometry, kv_heads, kv_head);
        const HeadSlots values = head_slots(fp16_values, view, geometry, kv_heads, kv_head);
        for (int base = 0; base < view.fp16; base += TILE) {
            const int valid = min(TILE, view.fp16 - base);
            score_fp16_tile(keys, base, valid, query_plain, scores);
            online_softmax(scores, scratch, run_max, run_sum, acc);
            accumulate_fp16_tile(values, base, valid, scores, acc);
            __syncthreads();
        }
    }

    // Coded rows [begin, end) of this split, STAGES tiles in flight.
    // Page ids a tile ahead of their copies.
    #pragma unroll
    for (int s = 0; s < STAGES - 1; ++s) {
        const int units = tile_units(view, begin + s * TILE, end);
        issue_tile(key_tiles, value_tiles, key_codes, value_codes, units, geometry, kv_heads, kv_head, begin, end, s, tiles);
    }
    int units_next = tile_units(view, begin + (STAGES - 1) * TILE, end);
    for (int t = 0; t < tiles; ++t) {
        issue_tile(key_tiles, value_tiles, key_codes, value_codes, units_next, geometry, kv_heads, kv_head, begin, end, t + STAGES - 1,
                   tiles);
        units_next = tile_units(view, begin + (t + STAGES) * TILE, end);
        wait_async<STAGES - 1>();
        __syncthreads();
        const int slot = t % STAGES;
        const int valid = min(TILE, end - begin - t * TILE);
        score_coded_tile(key_tiles + slot * TILE * K_ROW, valid, query_lane, lut, key_book, scores);
        online_softmax(scores, scratch, run_max, run_sum, acc);
        accumulate_coded_tile(value_tiles + slot * TILE * V_ROW, valid, scores, value_book, acc);
        __syncthreads();
    }

    // Result of this split: the token groups' accumulators summed; then the output row itself
    // under a one-piece plan, else the partial row (unnormalised) the split merge reads.
    #pragma unroll
    for (int g = 0; g < GROUP; ++g) {
        #pragma unroll
        for (int x = 0; x < DIMS_PER_LANE; ++x) atomicAdd(&split_out[g * HEAD_DIM + lane_part() * DIMS_PER_LANE + x], acc[g][x]);
    }
    __syncthreads();
    const size_t part0 = piece_part;
    const bool covered = piece_covered;
    if (stride == 1) {
        // The row's result (split_result.cuh); run_sum is the block's (block_reduce).
        for (int e = tid; e < GROUP * HEAD_DIM; e += THREADS) {
            const int g = e / HEAD_DIM;
            float sum = run_sum[0];  // run_sum[g], without a local-memory index
            #pragma unroll
            for (int h = 1; h < GROUP; ++h) sum = g == h ? run_sum[h] : sum;
            out[part0 * HEAD_DIM + e] = row_output(split_out[e], sum, covered);
        }
        if (!covered) poison_one_piece_rows(out, batch, kv_heads, kv_head);
    } else {
        for (int e = tid; e < GROUP * HEAD_DIM; e += THREADS) {
            const int g = e / HEAD_DIM, dim = e % HEAD_DIM;
            partial_out[(part0 + (size_t)g * stride) * HEAD_DIM + dim] = split_out[e];
        }
        if (tid < GROUP) {
            #pragma unroll
            for (int g = 0; g < GROUP; ++g) {
                if (g == tid) store_split_state(partial_max, partial_sum, part0 + (size_t)g * stride, run_max[g], run_sum[g], covered);
            }
        }
    }
