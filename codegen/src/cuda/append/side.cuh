// The launch's rows: one side (keys or values) of one new token of one (KV head, batch entry).
// A block serves WARPS / TEAM rows with TEAM warps each. The host picks TEAM from the row count
// (runtime/src/append.rs): the whole block on a row where rows are few, so that each warp
// searches a few sub-vectors; one or two warps a row where they are many, so that every row
// runs in the first wave and no warp holds a copy of a book it barely uses. Streamed books (over
// 256 entries) always take the whole block.

// A barrier of the TEAM warps of one row: named barrier 1 + team (0 is __syncthreads).
// `barrier.sync`, not `bar.sync`: it allows the warp's lanes to arrive apart (sm_70+).
template <int TEAM> __device__ __forceinline__ void team_sync() {
    if constexpr (TEAM == 1) {
        __syncwarp();
    } else if constexpr (TEAM == WARPS) {
        __syncthreads();
    } else {
        asm volatile("barrier.sync %0, %1;" ::"r"(1 + (int)(threadIdx.x >> 5) / TEAM), "r"(TEAM * 32) : "memory");
    }
}

// Row `row` of a launch of `count` tokens: keys on the even rows, values on the odd ones (the two
// sides share nothing: their own fp16 slots, codes and codebooks).
struct AppendRow {
    bool keys;
    int j, kv_head, entry;
};
__device__ __forceinline__ AppendRow append_row(int row, int count, int kv_heads) {
    const int token_row = row >> 1, head = token_row / count;
    return AppendRow{(row & 1) == 0, token_row % count, head % kv_heads, head / kv_heads};
}

template <bool KEYS, int TEAM>
__device__ __forceinline__ void append_side(const AppendRow& at, const unsigned short* __restrict__ new_rows, int count,
                                            const float* __restrict__ centroids, const float* __restrict__ norms,
                                            const float* __restrict__ smooth, unsigned char* __restrict__ codes_out,
                                            unsigned short* __restrict__ fp16_rows, const int* __restrict__ seq_len,
                                            const int* __restrict__ seq_slot, const int* __restrict__ page_indptr,
                                            const int* __restrict__ page_indices, const CacheGeometry& geometry, int kv_heads) {
    constexpr int SUB = KEYS ? K_SUB : V_SUB, BOOK = KEYS ? K_BOOK : V_BOOK;
    constexpr int BITS = KEYS ? K_BITS : V_BITS, ROW = KEYS ? K_ROW : V_ROW;
    constexpr int ROWS = WARPS / TEAM, PER_LANE = HEAD_DIM / 32;
    __shared__ float x[ROWS][HEAD_DIM];
    __shared__ int code[ROWS][HEAD_DIM / SUB];
    const int team = (threadIdx.x >> 5) / TEAM, team_warp = (threadIdx.x >> 5) % TEAM;
    const int team_thread = threadIdx.x % (TEAM * 32), lane = threadIdx.x & 31;
    const int j = at.j, kv_head = at.kv_head, entry = at.entry;
    const int book_index = PER_HEAD_CODEBOOKS ? kv_head : 0;
    const float* book_centroids = centroids + (size_t)book_index * BOOK * SUB;
    const float* book_norms = norms + (size_t)book_index * BOOK;
    LaneBook<SUB, BOOK> held;
    load_lane_book<SUB, BOOK>(book_centroids, book_norms, held);
    const LaneSmooth<PER_LANE> lambda = load_lane_smooth<PER_LANE, KEYS>(smooth + kv_head * HEAD_DIM);
    // The kernel may have started while the projection before it still ran
    // (dependent_launch.cuh): the codebook and λ above are constant; the new rows, the lengths
    // and the cache are read and written only from here on.
    wait_for_predecessor();
    allow_dependents();
    const size_t head = (size_t)entry * kv_heads + kv_head;
    const unsigned short* src = new_rows + (head * count + j) * HEAD_DIM;
    // The new token, this thread's share, read before the lengths: the two latencies overlap.
    constexpr int NEW_PER_THREAD = (HEAD_DIM + TEAM * 32 - 1) / (TEAM * 32);
    unsigned short incoming[NEW_PER_THREAD];
    #pragma unroll
    for (int k = 0; k < NEW_PER_THREAD; ++k) {
        const int e = team_thread + k * TEAM * 32;
        incoming[k] = e < HEAD_DIM ? src[e] : 0;
    }
    const SequenceView view = sequence_view(seq_len, seq_slot, page_indptr, page_indices, geometry, entry);
    const int total = seq_len[entry], before = total - count, i = before + j;
    if (before < 0) return;  // a table that counts fewer tokens than this call appends: write nothing
    const int sinks = geometry.sinks, residual = geometry.residual;
    const size_t first_slot = fp16_slot_index(view, geometry, kv_heads, kv_head, 0);

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
    // An int8 slot row's codes and scale, made before the encode below so that the reduction
    // can overlap the search (only the write must wait for the old row to be read; not timed
    // apart, bench/results/accuracy-s22).
    Int8SlotRow new_row;
    if constexpr (SLOT_INT8) {
        if (slot >= 0 && team_warp == 0) new_row = int8_slot_row(src);
    }
    if (row >= 0 && row < view.coded) {
        const size_t index = code_row_index(view, geometry, kv_heads, kv_head, row);
        // Stage: the row into shared memory, keys transformed (one warp of the team; the
        // transform is warp-wide, in the CPU's order).
        if (team_warp == 0) {
            if (encode_old) {
                const HeadSlots held = head_slots(fp16_rows, view, geometry, kv_heads, kv_head);
                stage_slot_row<KEYS>(slot_row(held, slot), lambda, x[team]);
            } else {
                stage_row<KEYS>(src, lambda, x[team]);
            }
        }
        team_sync<TEAM>();
        // Stage: nearest centroid.
        nearest_codes<SUB, BOOK, HEAD_DIM / SUB, TEAM>(x[team], book_centroids, book_norms, held, code[team], team_warp);
        team_sync<TEAM>();
        pack_codes<BITS, ROW>(code[team], HEAD_DIM / SUB, codes_out + index * ROW, team_thread, TEAM * 32);
    }
    if (slot >= 0) {
        // After the old slot content was read (the barriers above), the new token takes it.
        team_sync<TEAM>();
        if constexpr (SLOT_INT8) {
            if (team_warp == 0) store_int8_slot_row(new_row, fp16_rows, slot_rows_in(geometry, kv_heads), first_slot + slot);
        } else {
            #pragma unroll
            for (int k = 0; k < NEW_PER_THREAD; ++k) {
                const int e = team_thread + k * TEAM * 32;
                if (e < HEAD_DIM) fp16_rows[(first_slot + slot) * HEAD_DIM + e] = incoming[k];
            }
        }
    }
}

// Every row of this block's share of the launch.
template <int TEAM>
__device__ __forceinline__ void append_rows(const unsigned short* __restrict__ new_keys, const unsigned short* __restrict__ new_values,
                                            int count, const float* __restrict__ key_centroids, const float* __restrict__ key_norms,
                                            const float* __restrict__ value_centroids, const float* __restrict__ value_norms,
                                            const float* __restrict__ smooth, unsigned char* __restrict__ key_codes,
                                            unsigned char* __restrict__ value_codes, unsigned short* __restrict__ fp16_keys,
                                            unsigned short* __restrict__ fp16_values, const int* __restrict__ seq_len,
                                            const int* __restrict__ seq_slot, const int* __restrict__ page_indptr,
                                            const int* __restrict__ page_indices, const CacheGeometry& geometry, int kv_heads, int entries) {
    const long long row = (long long)blockIdx.x * (WARPS / TEAM) + (threadIdx.x >> 5) / TEAM;
    if (row >= 2LL * count * kv_heads * entries) return;  // the whole team: its barriers are its own
    const AppendRow at = append_row((int)row, count, kv_heads);
    if (at.keys) {
        append_side<true, TEAM>(at, new_keys, count, key_centroids, key_norms, smooth, key_codes, fp16_keys, seq_len, seq_slot, page_indptr,
                                page_indices, geometry, kv_heads);
    } else {
        append_side<false, TEAM>(at, new_values, count, value_centroids, value_norms, smooth, value_codes, fp16_values, seq_len, seq_slot,
                                 page_indptr, page_indices, geometry, kv_heads);
    }
}
