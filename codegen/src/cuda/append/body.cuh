    __shared__ float key[HEAD_DIM], value[HEAD_DIM];
    __shared__ int key_code[HEAD_DIM], value_code[HEAD_DIM];
    const int j = blockIdx.x, kv_head = blockIdx.y, entry = blockIdx.z;
    const int kv_heads = gridDim.y, tid = threadIdx.x;
    const SequenceView view = sequence_view(seq_len, seq_slot, page_indptr, page_indices, geometry, entry);
    const int total = seq_len[entry], before = total - count, i = before + j;
    if (before < 0) return;  // a table that counts fewer tokens than this call appends: write nothing
    const int sinks = geometry.sinks, residual = geometry.residual;
    const size_t head = (size_t)entry * kv_heads + kv_head;
    const unsigned short* src_k = new_keys + (head * count + j) * HEAD_DIM;
    const unsigned short* src_v = new_values + (head * count + j) * HEAD_DIM;
    unsigned short* slots_k = fp16_keys + fp16_slot_index(view, geometry, kv_heads, kv_head, 0) * HEAD_DIM;
    unsigned short* slots_v = fp16_values + fp16_slot_index(view, geometry, kv_heads, kv_head, 0) * HEAD_DIM;

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
        const unsigned short* from_k = encode_old ? slots_k + (size_t)slot * HEAD_DIM : src_k;
        const unsigned short* from_v = encode_old ? slots_v + (size_t)slot * HEAD_DIM : src_v;
        for (int e = tid; e < HEAD_DIM; e += THREADS) {
            const float x = half_to_float(from_k[e]);
            key[e] = SMOOTH ? __fdiv_rn(x, smooth[kv_head * HEAD_DIM + e]) : x;
            value[e] = half_to_float(from_v[e]);
        }
        __syncthreads();
        // Stage: key transform (the CPU's butterfly order, then the scale).
        if (HADAMARD) {
            for (int h = 1; h < HEAD_DIM; h <<= 1) {
                for (int p = tid; p < HEAD_DIM / 2; p += THREADS) {
                    const int a = (p / h) * 2 * h + (p % h);
                    const float u = key[a], w = key[a + h];
                    key[a] = __fadd_rn(u, w);
                    key[a + h] = __fsub_rn(u, w);
                }
                __syncthreads();
            }
            for (int e = tid; e < HEAD_DIM; e += THREADS) key[e] = __fmul_rn(key[e], HADAMARD_SCALE);
            __syncthreads();
        }
        // Stage: nearest centroid, keys on the first half of the warps, values on the second.
        const int book = PER_HEAD_CODEBOOKS ? kv_head : 0;
        const bool keys = tid < THREADS / 2;
        if (keys) nearest_codes<K_SUB, K_BOOK, HEAD_DIM / K_SUB>(key, key_centroids + (size_t)book * K_BOOK * K_SUB,
                                                               key_norms + (size_t)book * K_BOOK, key_code, 0);
        else nearest_codes<V_SUB, V_BOOK, HEAD_DIM / V_SUB>(value, value_centroids + (size_t)book * V_BOOK * V_SUB,
                                                          value_norms + (size_t)book * V_BOOK, value_code, ENCODE_WARPS);
        __syncthreads();
        const size_t index = code_row_index(view, geometry, kv_heads, kv_head, row);
        if (keys) pack_codes<K_BITS, K_ROW>(key_code, HEAD_DIM / K_SUB, key_codes + index * K_ROW, 0);
        else pack_codes<V_BITS, V_ROW>(value_code, HEAD_DIM / V_SUB, value_codes + index * V_ROW, THREADS / 2);
    }
    if (slot >= 0) {
        // After the old slot content was read (the barriers above), the new token takes it.
        __syncthreads();
        for (int e = tid; e < HEAD_DIM; e += THREADS) {
            slots_k[(size_t)slot * HEAD_DIM + e] = src_k[e];
            slots_v[(size_t)slot * HEAD_DIM + e] = src_v[e];
        }
    }
