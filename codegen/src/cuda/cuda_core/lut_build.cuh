    // Stage: LUT build. LUT[g][m][j] = q'_{g,m} · C_k[j].
    for (int idx = tid; idx < GROUP * K_CODES * K_BOOK; idx += THREADS) {
        const int j = idx % K_BOOK, m = (idx / K_BOOK) % K_CODES, g = idx / (K_BOOK * K_CODES);
        float s = 0.f;
        #pragma unroll
        for (int x = 0; x < K_SUB; ++x) s += query_t[g * HEAD_DIM + m * K_SUB + x] * half_to_float(key_book[j * K_SUB + x]);
        lut[idx] = s;
    }
    __syncthreads();
