    // Stage: async tile pipeline, STAGES tiles in flight through shared memory (cp.async).
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
        const int first = warp * WARP_TOKENS;
        if (first < valid) {
            const unsigned char* key_tile = key_tiles + slot * TILE * K_ROW;
            const unsigned char* value_tile = value_tiles + slot * TILE * V_ROW;
            SlabScores s[SLABS];
            unsigned p[SLABS][2];
            #pragma unroll
            for (int sl = 0; sl < SLABS; ++sl) {
                int codes[2][K_SPAN];
                key_codes_of_tile(key_tile, first + 16 * sl, codes);
                score_coded_slab(codes, fragments, key_book, s[sl]);
            }
            online_softmax<SLABS>(s, first, valid, run, acc, p);
            #pragma unroll
            for (int sl = 0; sl < SLABS; ++sl) {
                int codes[4][V_SPAN];
                value_codes_of_tile(value_tile, first + 16 * sl, codes);
                accumulate_coded_slab(codes, p[sl], value_book, acc);
            }
        }
        __syncthreads();
    }
