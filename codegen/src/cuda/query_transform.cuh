    // Stage: query transform. q' = (q ⊙ λ)·H / sqrt(D) for coded keys, q / sqrt(D) for fp16 keys;
    // the butterflies run in the CPU reference's order.
    for (int e = tid; e < GROUP * HEAD_DIM; e += THREADS) {
        const int g = e / HEAD_DIM, i = e % HEAD_DIM;
        const float x = half_to_float(query[(row0 + g) * HEAD_DIM + i]);
        query_plain[e] = x * SOFTMAX_SCALE;
        query_t[e] = SMOOTH ? x * smooth[kv_head * HEAD_DIM + i] : x;
    }
    __syncthreads();
    if (HADAMARD) {
        for (int h = 1; h < HEAD_DIM; h <<= 1) {
            for (int idx = tid; idx < GROUP * HEAD_DIM / 2; idx += THREADS) {
                const int g = idx / (HEAD_DIM / 2), k = idx % (HEAD_DIM / 2);
                const int i = (k / h) * 2 * h + (k % h);
                float* row = query_t + g * HEAD_DIM;
                const float a = row[i], b = row[i + h];
                row[i] = a + b;
                row[i + h] = a - b;
            }
            __syncthreads();
        }
    }
    for (int e = tid; e < GROUP * HEAD_DIM; e += THREADS) {
        query_t[e] = HADAMARD ? (query_t[e] * SOFTMAX_SCALE) * SOFTMAX_SCALE : query_t[e] * SOFTMAX_SCALE;
    }
    __syncthreads();
