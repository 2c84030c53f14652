    // Keys on the even blocks, values on the odd ones: the two sides share nothing (their own
    // fp16 slots, codes and codebooks), so each gets all of a block's warps.
    if (blockIdx.x & 1) {
        append_side<false>(new_values, count, value_centroids, value_norms, smooth, value_codes, fp16_values, seq_len, seq_slot,
                           page_indptr, page_indices, geometry);
    } else {
        append_side<true>(new_keys, count, key_centroids, key_norms, smooth, key_codes, fp16_keys, seq_len, seq_slot, page_indptr,
                          page_indices, geometry);
    }
