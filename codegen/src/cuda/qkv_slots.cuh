// Where the projection writes a step's new K and V when it writes them into the cache itself
// (no append launch for them): the cache's slots, `[slots, kv_heads, capacity]` rows. The
// token at position p of a sequence takes slot index p while p < sinks, else
// sinks + (p - sinks) % residual (the VQ cache's window ring; residual 0: no slot), in the
// sequence slot seq_slot[entry] (null: the entry itself). The FP16 cache passes
// sinks = capacity, residual = 0: token p in slot p. keys == null: no cache, K and V go to the
// step's k and v buffers.
// A row is HEAD_DIM halves, or with `int8` HEAD_DIM int8 codes (two a word) whose f16 scales
// follow the buffer's last row, one a row in the same order (cache_view.cuh's layout; the
// rows are made as int8_rows.cuh says, from the fp16-rounded values).
struct TokenSlots {
    unsigned short* keys;
    unsigned short* values;
    const int* seq_slot;
    int slots, capacity, sinks, residual;
    int int8;
};

// Row index of (entry, kv_head)'s token at `position` in a slot buffer, or -1 where the cache
// keeps no slot for it. The slot read from the table is clamped into the buffers, so a wrong
// table writes a wrong slot, never outside the cache.
__device__ __forceinline__ long long token_slot_row(const TokenSlots& t, int entry, int kv_heads, int kv_head, int position) {
    int index;
    if (position < 0) return -1;
    if (position < t.sinks) index = position;
    else if (t.residual > 0) index = t.sinks + (position - t.sinks) % t.residual;
    else return -1;
    if (index >= t.capacity) return -1;
    const int slot = min(max(t.seq_slot != nullptr ? t.seq_slot[entry] : entry, 0), t.slots - 1);
    return ((long long)slot * kv_heads + kv_head) * t.capacity + index;
}

// Writes pair i of an int8 slot row: the codes of elements 2i and 2i + 1, and (pair 0) the
// row's scale.
__device__ __forceinline__ void store_int8_pair(const TokenSlots& t, bool key, int kv_heads, long long row, int i, float a,
                                                float b, unsigned short scale_bits) {
    unsigned short* buffer = key ? t.keys : t.values;
    buffer[row * (HEAD_DIM / 2) + i] = int8_pair_word(a, b, half_to_float(scale_bits));
    if (i == 0) buffer[(long long)t.slots * kv_heads * t.capacity * (HEAD_DIM / 2) + row] = scale_bits;
}

// Where value pair i of head `head` (of the fused QKV row) of token t = position - positions[entry]
// goes, for fp16 rows: Q to q; K and V to the cache's slots when `slots` has them, else to k
// and v. Null: the cache keeps no slot for the token.
__device__ __forceinline__ unsigned short* qkv_destination(const TokenSlots& slots, unsigned short* q, unsigned short* k,
                                                            unsigned short* v, int entry, int t, int chunk, int position,
                                                            int head, int q_heads, int kv_heads) {
    if (head < q_heads) return q + (((size_t)entry * q_heads + head) * chunk + t) * HEAD_DIM;
    const bool key = head < q_heads + kv_heads;
    const int kv_head = key ? head - q_heads : head - q_heads - kv_heads;
    if (slots.keys != nullptr) {
        if (slots.int8) return nullptr;  // int8 rows are written through store_int8_pair
        const long long row = token_slot_row(slots, entry, kv_heads, kv_head, position);
        return row < 0 ? nullptr : (key ? slots.keys : slots.values) + row * HEAD_DIM;
    }
    return (key ? k : v) + (((size_t)entry * kv_heads + kv_head) * chunk + t) * HEAD_DIM;
}

// Pair (a, b) of head `head` at `position`: RoPE'd for Q and K heads, as it is for V heads.
__device__ __forceinline__ void rope_pair(float& a, float& b, const float* __restrict__ cos_table,
                                          const float* __restrict__ sin_table, size_t position, int i, int head,
                                          int rotated_heads) {
    if (head >= rotated_heads) return;
    constexpr int PAIRS = HEAD_DIM / 2;
    const float c = cos_table[position * PAIRS + i], s = sin_table[position * PAIRS + i];
    const float first = a * c - b * s, second = a * s + b * c;
    a = first;
    b = second;
}

// A value as the fp16 row holds it, back in f32: an int8 row is made from those.
__device__ __forceinline__ float fp16_rounded(float x) { return half_to_float(float_to_half(x)); }

// Stage: RoPE and head split. Row r of the fused projection `qkv [rows, (q_heads + 2 kv_heads) D]`
// is token t = r % chunk of sequence s = r / chunk, at position positions[s] + t. Q and K are
// rotated in GGUF's interleaved pairs (2i, 2i + 1) by the angle table row of that position;
// all three leave head-major in fp16, K and V into the cache's slots where `slot_keys` is set
// (TokenSlots); with `slot_int8` (slots only), as int8 rows, a warp per K or V head.
// Grid: rows; block: a multiple of 32 threads.
extern "C" __global__ void rope_qkv(const float* __restrict__ qkv, const float* __restrict__ cos_table,
                                    const float* __restrict__ sin_table, const int* __restrict__ positions,
                                    unsigned short* __restrict__ q, unsigned short* __restrict__ k,
                                    unsigned short* __restrict__ v, int q_heads, int kv_heads, int chunk,
                                    unsigned short* __restrict__ slot_keys, unsigned short* __restrict__ slot_values,
                                    const int* __restrict__ seq_slot, int slots, int slot_capacity, int sinks, int residual,
                                    int slot_int8) {
    constexpr int PAIRS = HEAD_DIM / 2;
    const bool int8 = slot_int8 != 0 && slot_keys != nullptr;
    const TokenSlots cache{slot_keys, slot_values, seq_slot, slots, slot_capacity, sinks, residual, int8};
    const int row = blockIdx.x, seq = row / chunk, t = row % chunk;
    // fp16 rows: every head; int8 rows: the query heads here, K and V below.
    const int heads = int8 ? q_heads : q_heads + 2 * kv_heads;
    const size_t position = (size_t)(positions[seq] + t);
    const float* src = qkv + (size_t)row * (q_heads + 2 * kv_heads) * HEAD_DIM;
    for (int p = threadIdx.x; p < heads * PAIRS; p += blockDim.x) {
        const int head = p / PAIRS, i = p % PAIRS;
        unsigned short* dst = qkv_destination(cache, q, k, v, seq, t, chunk, (int)position, head, q_heads, kv_heads);
        if (dst == nullptr) continue;
        float a = src[head * HEAD_DIM + 2 * i], b = src[head * HEAD_DIM + 2 * i + 1];
        rope_pair(a, b, cos_table, sin_table, position, i, head, q_heads + kv_heads);
        dst[2 * i] = float_to_half(a);
        dst[2 * i + 1] = float_to_half(b);
    }
    if (!int8) return;
    constexpr int LANE_PAIRS = (PAIRS + 31) / 32;
    const int lane = threadIdx.x & 31;
    for (int h = threadIdx.x >> 5; h < 2 * kv_heads; h += blockDim.x >> 5) {
        const bool key = h < kv_heads;
        const int head = q_heads + h;
        const long long at = token_slot_row(cache, seq, kv_heads, key ? h : h - kv_heads, (int)position);
        if (at < 0) continue;  // the same for the whole warp
        float a[LANE_PAIRS], b[LANE_PAIRS], both[2 * LANE_PAIRS];
        #pragma unroll
        for (int j = 0; j < LANE_PAIRS; ++j) {
            const int i = lane + 32 * j;
            a[j] = b[j] = 0.f;
            if (i < PAIRS) {
                a[j] = src[head * HEAD_DIM + 2 * i];
                b[j] = src[head * HEAD_DIM + 2 * i + 1];
                rope_pair(a[j], b[j], cos_table, sin_table, position, i, head, q_heads + kv_heads);
                a[j] = fp16_rounded(a[j]);
                b[j] = fp16_rounded(b[j]);
            }
            both[2 * j] = a[j];
            both[2 * j + 1] = b[j];
        }
        const unsigned short scale = int8_scale_bits(both);
        #pragma unroll
        for (int j = 0; j < LANE_PAIRS; ++j)
            if (lane + 32 * j < PAIRS) store_int8_pair(cache, key, kv_heads, at, lane + 32 * j, a[j], b[j], scale);
    }
}

