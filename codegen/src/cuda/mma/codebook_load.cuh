    float* warp_state = reinterpret_cast<float*>(smem + OFF_REDUCTION);  // [WARPS][2][GROUP]: max, sum
    float* warp_out = reinterpret_cast<float*>(smem + OFF_OUTPUT);       // [WARPS][GROUP][HEAD_DIM]
    const int warp = tid >> 5, lane = tid & 31, g = lane >> 2, quarter = lane & 3;

    // Stage: codebook load, K_COPIES and V_COPIES copies (lane l reads copy l % copies: a
    // warp's random centroid reads then spread over more banks).
    {
        const int book = PER_HEAD_CODEBOOKS ? kv_head : 0;
        copy_books_replicated<K_BOOK, V_BOOK>(key_book, key_codebooks + (size_t)book * K_BOOK * K_SUB,
                                              value_book, value_codebooks + (size_t)book * V_BOOK * V_SUB);
    }
