    // Stage: codebook load. The block's K and V codebooks into shared memory, 16 bytes a thread.
    {
        const int book = PER_HEAD_CODEBOOKS ? kv_head : 0;
        const uint4* key_src = reinterpret_cast<const uint4*>(key_codebooks + (size_t)book * K_BOOK * K_SUB);
        const uint4* value_src = reinterpret_cast<const uint4*>(value_codebooks + (size_t)book * V_BOOK * V_SUB);
        for (int i = tid; i < K_BOOK * K_SUB * 2 / 16; i += THREADS) reinterpret_cast<uint4*>(key_book)[i] = key_src[i];
        for (int i = tid; i < V_BOOK * V_SUB * 2 / 16; i += THREADS) reinterpret_cast<uint4*>(value_book)[i] = value_src[i];
    }
