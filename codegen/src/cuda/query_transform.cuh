    // Stage: query transform. q' = (q ⊙ λ)·H / sqrt(D) for coded keys, q / sqrt(D) for fp16 keys;
    // the butterflies run in the CPU reference's order.
    for (int e = tid; e < GROUP * HEAD_DIM; e += THREADS) {
        const int g = e / HEAD_DIM, i = e % HEAD_DIM;
        const float x = half_to_float(query[(row0 + g) * HEAD_DIM + i]);
        query_plain[e] = x * SOFTMAX_SCALE;
        query_t[e] = SMOOTH ? x * smooth[kv_head * HEAD_DIM + i] : x;
    }
    if (HADAMARD) {
        // A warp per query head, lane l holding dims l·P .. l·P + P - 1: butterflies narrower
        // than P within a lane, wider ones across lanes by shuffles, with no barrier between
        // stages. Each stage adds and subtracts the same pairs as the reference, so the result is
        // the same to the bit.
        __syncthreads();
        constexpr int P = HEAD_DIM / 32;
        const int lane = tid & 31;
        for (int g = tid >> 5; g < GROUP; g += WARPS) {
            float* row = query_t + g * HEAD_DIM + lane * P;
            float x[P];
            #pragma unroll
            for (int j = 0; j < P; ++j) x[j] = row[j];
            #pragma unroll
            for (int h = 1; h < P; h <<= 1) {
                #pragma unroll
                for (int j = 0; j < P; ++j) {
                    if (j & h) continue;
                    const float a = x[j], b = x[j + h];
                    x[j] = a + b;
                    x[j + h] = a - b;
                }
            }
            #pragma unroll
            for (int h = P; h < HEAD_DIM; h <<= 1) {
                const int mate = h / P;  // the lane holding the other end of each pair
                const bool upper = lane & mate;
                #pragma unroll
                for (int j = 0; j < P; ++j) {
                    const float other = __shfl_xor_sync(0xffffffffu, x[j], mate);
                    x[j] = upper ? other - x[j] : x[j] + other;
                }
            }
            #pragma unroll
            for (int j = 0; j < P; ++j) row[j] = (x[j] * SOFTMAX_SCALE) * SOFTMAX_SCALE;
        }
    } else {
        for (int e = tid; e < GROUP * HEAD_DIM; e += THREADS) query_t[e] *= SOFTMAX_SCALE;
    }
    __syncthreads();
