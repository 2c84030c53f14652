    // Stage: async tile pipeline, in registers (direct code loads): each warp loads its share
    // of the next tile while it computes this one, and reads the page table a tile further ahead.
    WarpCodes current, next;
    WarpUnits units_next;
    if (tiles > 0) {
        const int first = begin + warp * WARP_TOKENS;
        load_warp_codes(key_codes, value_codes, warp_units(view, first, end), geometry, kv_heads, kv_head, first, end, current);
    }
    if (tiles > 1) units_next = warp_units(view, begin + TILE + warp * WARP_TOKENS, end);
    for (int t = 0; t < tiles; ++t) {
        // piece_begin rather than begin: see sequence_span.cuh (volatile: read here, not held).
        const int first = *(volatile int*)&piece_begin + t * TILE + warp * WARP_TOKENS;
        if (t + 1 < tiles) {
            load_warp_codes(key_codes, value_codes, units_next, geometry, kv_heads, kv_head, first + TILE, end, next);
            if (t + 2 < tiles) units_next = warp_units(view, first + 2 * TILE, end);
        }
        if (first < end) {
            SlabScores s[SLABS];
            unsigned p[SLABS][2];
            #pragma unroll
            for (int sl = 0; sl < SLABS; ++sl) {
                int codes[2][K_SPAN];
                unpack_codes<K_SPAN>(current.key[sl][0], codes[0]);
                unpack_codes<K_SPAN>(current.key[sl][1], codes[1]);
                score_coded_slab(codes, fragments, key_book, s[sl]);
            }
            online_softmax<SLABS>(s, first, end, run, acc, p);
            #pragma unroll
            for (int sl = 0; sl < SLABS; ++sl) {
                int codes[4][V_SPAN];
                #pragma unroll
                for (int v = 0; v < 4; ++v) unpack_codes<V_SPAN>(current.value[sl][v], codes[v]);
                accumulate_coded_slab(codes, p[sl], value_book, acc);
            }
        }
        current = next;
    }
