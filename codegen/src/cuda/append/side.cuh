// One side (keys or values) of one new token of one (KV head, batch entry).
template <bool KEYS>
__device__ __forceinline__ void append_side(const unsigned short* __restrict__ new_rows, int count, const float* __restrict__ centroids,
                                            const float* __restrict__ norms, const float* __restrict__ smooth,
                                            unsigned char* __restrict__ codes_out, unsigned short* __restrict__ fp16_rows,
                                            const int* __restrict__ seq_len, const int* __restrict__ seq_slot,
                                            const int* __restrict__ page_indptr, const int* __restrict__ page_indices,
                                            const CacheGeometry& geometry) {
    constexpr int SUB = KEYS ? K_SUB : V_SUB, BOOK = KEYS ? K_BOOK : V_BOOK;
    constexpr int BITS = KEYS ? K_BITS : V_BITS, ROW = KEYS ? K_ROW : V_ROW;
    __shared__ float x[HEAD_DIM];
    __shared__ int code[HEAD_DIM];
    const int j = blockIdx.x >> 1, kv_head = blockIdx.y, entry = blockIdx.z;
    const int kv_heads = gridDim.y, tid = threadIdx.x;
    const int book_index = PER_HEAD_CODEBOOKS ? kv_head : 0;
    const float* book_centroids = centroids + (size_t)book_index * BOOK * SUB;
    const float* book_norms = norms + (size_t)book_index * BOOK;
    LaneBook<SUB, BOOK> held;
    load_lane_book<SUB, BOOK>(book_centroids, book_norms, held);
    // The kernel may have started while the projection before it still ran
    // (dependent_launch.cuh): the codebook above is constant; the new rows, the lengths and the
    // cache are read and written only from here on.
    wait_for_predecessor();
    allow_dependents();
    const SequenceView view = sequence_view(seq_len, seq_slot, page_indptr, page_indices, geometry, entry);
    const int total = seq_len[entry], before = total - count, i = before + j;
    if (before < 0) return;  // a table that counts fewer tokens than this call appends: write nothing
    const int sinks = geometry.sinks, residual = geometry.residual;
    const size_t head = (size_t)entry * kv_heads + kv_head;
    const unsigned short* src = new_rows + (head * count + j) * HEAD_DIM;
    unsigned short* slots = fp16_rows + fp16_slot_index(view, geometry, kv_heads, kv_head, 0) * HEAD_DIM;

    // Where this token goes, and which token (if any) gets encoded into which code row.
    int slot = -1, row = -1;
    bool encode_old = false;
    if (i < sinks) {
        slot = i;
    } else if (residual > 0 && i >= total - residual) {
        slot = sinks + (i - sinks) % residual;
        // The newest token cached before this call that shares the slot; if it is a window
        // token, it leaves the window now (this token takes the slot last) and is flushed.
        const int flushed = i - residual * ((i - before) / residual + 1);
        if (flushed >= sinks && flushed >= 0) { row = flushed - sinks; encode_old = true; }
    } else {
        row = i - sinks;
    }
    if (row >= 0 && row < view.coded) {
        const size_t index = code_row_index(view, geometry, kv_heads, kv_head, row);
        const unsigned short* from = encode_old ? slots + (size_t)slot * HEAD_DIM : src;
        for (int e = tid; e < HEAD_DIM; e += THREADS) {
            const float v = half_to_float(from[e]);
            x[e] = KEYS && SMOOTH ? __fdiv_rn(v, smooth[kv_head * HEAD_DIM + e]) : v;
        }
        __syncthreads();
        // Stage: key transform (the CPU's butterfly order, then the scale).
        if (KEYS && HADAMARD) {
            for (int h = 1; h < HEAD_DIM; h <<= 1) {
                for (int p = tid; p < HEAD_DIM / 2; p += THREADS) {
                    const int a = (p / h) * 2 * h + (p % h);
                    const float u = x[a], w = x[a + h];
                    x[a] = __fadd_rn(u, w);
                    x[a + h] = __fsub_rn(u, w);
                }
                __syncthreads();
            }
            for (int e = tid; e < HEAD_DIM; e += THREADS) x[e] = __fmul_rn(x[e], HADAMARD_SCALE);
            __syncthreads();
        }
        // Stage: nearest centroid.
        nearest_codes<SUB, BOOK, HEAD_DIM / SUB>(x, book_centroids, book_norms, held, code);
        __syncthreads();
        pack_codes<BITS, ROW>(code, HEAD_DIM / SUB, codes_out + index * ROW);
    }
    if (slot >= 0) {
        // After the old slot content was read (the barriers above), the new token takes it.
        __syncthreads();
        for (int e = tid; e < HEAD_DIM; e += THREADS) slots[(size_t)slot * HEAD_DIM + e] = src[e];
    }
}
