// The CUDA-core kernels (KeyScoring::Lut and Dequantize): lanes score and accumulate tokens
// with plain FMAs; a tile's scores and probabilities go through shared memory.

// Reduces GROUP values across the block; every thread gets the results.
template <bool IS_MAX> __device__ __forceinline__ void block_reduce(float (&v)[GROUP], float* scratch) {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    #pragma unroll
    for (int g = 0; g < GROUP; ++g) v[g] = IS_MAX ? warp_max(v[g]) : warp_sum(v[g]);
    __syncthreads();
    if (lane == 0) {
        #pragma unroll
        for (int g = 0; g < GROUP; ++g) scratch[warp * GROUP + g] = v[g];
    }
    __syncthreads();
    #pragma unroll
    for (int g = 0; g < GROUP; ++g) {
        float r = scratch[g];
        for (int w = 1; w < WARPS; ++w) r = IS_MAX ? fmaxf(r, scratch[w * GROUP + g]) : r + scratch[w * GROUP + g];
        v[g] = r;
    }
}

// The token of this lane in a warp step, and the first dim the lane owns.
__device__ __forceinline__ int lane_token() { return (threadIdx.x & 31) / LANES_PER_TOKEN; }
__device__ __forceinline__ int lane_part() { return (threadIdx.x & 31) % LANES_PER_TOKEN; }

// Sums each lane's partial scores over the lanes of its token; every lane gets the sums.
__device__ __forceinline__ void reduce_over_token_lanes(float (&s)[GROUP]) {
    #pragma unroll
    for (int g = 0; g < GROUP; ++g) {
        #pragma unroll
        for (int o = LANES_PER_TOKEN / 2; o > 0; o >>= 1) s[g] += __shfl_xor_sync(0xffffffffu, s[g], o);
    }
}

// Stage: scores of a tile of coded keys.
__device__ __forceinline__ void score_coded_tile(const unsigned char* tile, int valid, const float (&query)[GROUP][DIMS_PER_LANE],
                                                 const float* lut, const unsigned short* key_book, float* scores) {
    const int warp = threadIdx.x >> 5, part = lane_part();
    for (int base = warp * TOKENS_PER_STEP; base < TILE; base += WARPS * TOKENS_PER_STEP) {
        const int t = base + lane_token();
        float s[GROUP];
        #pragma unroll
        for (int g = 0; g < GROUP; ++g) s[g] = 0.f;
        if (t < valid) {
            const unsigned char* row = tile + t * K_ROW;
            #pragma unroll
            for (int j = 0; j < DIMS_PER_LANE / K_SUB; ++j) {
                const int m = part * (DIMS_PER_LANE / K_SUB) + j;
                const int code = read_code<K_BITS>(row, m);
                if constexpr (LUT_SCORING) {
                    #pragma unroll
                    for (int g = 0; g < GROUP; ++g) s[g] += lut[(g * K_CODES + m) * K_BOOK + code];
                } else {
                    float centroid[K_SUB];
                    load_halves<K_SUB>(key_book + code * K_SUB, centroid);
                    #pragma unroll
                    for (int g = 0; g < GROUP; ++g) {
                        #pragma unroll
                        for (int x = 0; x < K_SUB; ++x) s[g] += query[g][j * K_SUB + x] * centroid[x];
                    }
                }
            }
        }
        reduce_over_token_lanes(s);
        if (part == 0) {
            #pragma unroll
            for (int g = 0; g < GROUP; ++g) scores[g * TILE + t] = t < valid ? s[g] : NEG_INF;
        }
    }
    __syncthreads();
}

// Stage: scores of a tile of slot keys (sinks and the residual window).
__device__ __forceinline__ void score_fp16_tile(const HeadSlots& keys, int base_token, int valid, const float* query_plain,
                                                float* scores) {
    const int warp = threadIdx.x >> 5, part = lane_part();
    for (int base = warp * TOKENS_PER_STEP; base < TILE; base += WARPS * TOKENS_PER_STEP) {
        const int t = base + lane_token();
        float s[GROUP];
        #pragma unroll
        for (int g = 0; g < GROUP; ++g) s[g] = 0.f;
        if (t < valid) {
            float k[DIMS_PER_LANE];
            slot_floats<DIMS_PER_LANE>(slot_row(keys, base_token + t), part * DIMS_PER_LANE, k);
            #pragma unroll
            for (int g = 0; g < GROUP; ++g) {
                #pragma unroll
                for (int x = 0; x < DIMS_PER_LANE; ++x) s[g] += query_plain[g * HEAD_DIM + part * DIMS_PER_LANE + x] * k[x];
            }
        }
        reduce_over_token_lanes(s);
        if (part == 0) {
            #pragma unroll
            for (int g = 0; g < GROUP; ++g) scores[g * TILE + t] = t < valid ? s[g] : NEG_INF;
        }
    }
    __syncthreads();
}

// Stage: online softmax. Turns the tile's scores into probabilities against the running max,
// rescales the running sum and the accumulators.
__device__ __forceinline__ void online_softmax(float* scores, float* scratch, float (&run_max)[GROUP],
                                               float (&run_sum)[GROUP], float (&acc)[GROUP][DIMS_PER_LANE]) {
    float tile_max[GROUP];
    #pragma unroll
    for (int g = 0; g < GROUP; ++g) {
        float m = NEG_INF;
        for (int i = threadIdx.x; i < TILE; i += THREADS) m = fmaxf(m, scores[g * TILE + i]);
        tile_max[g] = m;
    }
    block_reduce<true>(tile_max, scratch);
    float correction[GROUP], tile_sum[GROUP];
    #pragma unroll
    for (int g = 0; g < GROUP; ++g) {
        const float new_max = fmaxf(run_max[g], tile_max[g]);
        correction[g] = run_max[g] == NEG_INF ? 0.f : __expf(run_max[g] - new_max);
        run_max[g] = new_max;
        float s = 0.f;
        for (int i = threadIdx.x; i < TILE; i += THREADS) {
            const float p = __expf(scores[g * TILE + i] - new_max);
            scores[g * TILE + i] = p;
            s += p;
        }
        tile_sum[g] = s;
    }
    block_reduce<false>(tile_sum, scratch);
    #pragma unroll
    for (int g = 0; g < GROUP; ++g) {
        run_sum[g] = run_sum[g] * correction[g] + tile_sum[g];
        #pragma unroll
        for (int x = 0; x < DIMS_PER_LANE; ++x) acc[g][x] *= correction[g];
    }
    __syncthreads();
}

// Stage: value accumulation from a tile of coded values.
__device__ __forceinline__ void accumulate_coded_tile(const unsigned char* tile, int valid, const float* probs,
                                                      const unsigned short* value_book, float (&acc)[GROUP][DIMS_PER_LANE]) {
    const int warp = threadIdx.x >> 5, part = lane_part();
    for (int base = warp * TOKENS_PER_STEP; base < valid; base += WARPS * TOKENS_PER_STEP) {
        const int t = base + lane_token();
        if (t >= valid) continue;
        float p[GROUP];
        #pragma unroll
        for (int g = 0; g < GROUP; ++g) p[g] = probs[g * TILE + t];
        const unsigned char* row = tile + t * V_ROW;
        #pragma unroll
        for (int j = 0; j < DIMS_PER_LANE / V_SUB; ++j) {
            const int code = read_code<V_BITS>(row, part * (DIMS_PER_LANE / V_SUB) + j);
            float centroid[V_SUB];
            load_halves<V_SUB>(value_book + code * V_SUB, centroid);
            #pragma unroll
            for (int g = 0; g < GROUP; ++g) {
                #pragma unroll
                for (int x = 0; x < V_SUB; ++x) acc[g][j * V_SUB + x] += p[g] * centroid[x];
            }
        }
    }
}

// Stage: value accumulation from a tile of slot values.
__device__ __forceinline__ void accumulate_fp16_tile(const HeadSlots& values, int base_token, int valid, const float* probs,
                                                     float (&acc)[GROUP][DIMS_PER_LANE]) {
    const int warp = threadIdx.x >> 5, part = lane_part();
    for (int base = warp * TOKENS_PER_STEP; base < valid; base += WARPS * TOKENS_PER_STEP) {
        const int t = base + lane_token();
        if (t >= valid) continue;
        float v[DIMS_PER_LANE];
        slot_floats<DIMS_PER_LANE>(slot_row(values, base_token + t), part * DIMS_PER_LANE, v);
        #pragma unroll
        for (int g = 0; g < GROUP; ++g) {
            const float p = probs[g * TILE + t];
            #pragma unroll
            for (int x = 0; x < DIMS_PER_LANE; ++x) acc[g][x] += p * v[x];
        }
    }
}
