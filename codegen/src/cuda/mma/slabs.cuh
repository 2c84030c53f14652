// The tensor-core kernel's stages for one 16-token slab that do not depend on the key mma's
// rows: value accumulation, and the loads of a slab's codes and scales. The scores and the
// online softmax are in key_rows_heads.cuh or key_rows_tokens.cuh.

// The key codes score_coded_slab takes, from a shared-memory tile.
__device__ __forceinline__ void key_codes_of_tile(const unsigned char* tile, int slab, int (&codes)[2][K_SPAN]) {
    const int lane = threadIdx.x & 31, g = lane >> 2, quarter = lane & 3;
    #pragma unroll
    for (int n = 0; n < 2; ++n) read_codes<K_BITS, K_SPAN>(tile + (slab + 8 * n + g) * K_ROW, quarter * K_SPAN, codes[n]);
}

// The int8 scales of the slot rows a lane reads in one slab (1 for f16 rows), loaded together
// before any of them is used: the keys' tokens 8n + g, the values' tokens value_token(t). Loaded
// where they are used, the value scales waited for the scores (a second memory round trip) and
// each key scale was loaded once per chunk: the int8 window's kernel took 30% longer at 1 x 8192
// (bench/results/accuracy-s22).
struct SlabScales {
    float key[2];
    float value[4];
};

// The output fragments (mma.rs has both layouts): acc[i][e] holds head acc_head(e) (the heads
// whose running state the lane keeps in the tokens form) at dim acc_dim(i, e).
__device__ __forceinline__ int acc_head(int e) { return query_head(2 * (threadIdx.x & 3) + (e & 1)); }
__device__ __forceinline__ int acc_dim(int i, int e) {
    const int lane = threadIdx.x & 31, g = lane >> 2, quarter = lane & 3;
    return PAIRED_VALUES ? g * (HEAD_DIM / 8) + 4 * i + (quarter >> 1) + 2 * (e >> 1) : g * (HEAD_DIM / 8) + 2 * i + (e >> 1);
}

// A slab's probabilities as the value mma's B fragments. p[r], lane (g, q): head
// query_head(g)'s probabilities of tokens 8r + 2q and 8r + 2q + 1. Paired values take column
// g as (head g & 3, parity g >> 2): P' is P where the k-slot's parity (the token's dim within
// a pair) is the column's, zero elsewhere, so each half of p[r] goes into the half of the
// column's parity. Otherwise p is Pᵀ's B fragment as it is.
struct ValueProbabilities {
    unsigned b[PAIRED_VALUES ? 2 : 1][2];
};
__device__ __forceinline__ ValueProbabilities value_probabilities(const unsigned (&p)[2]) {
    ValueProbabilities v;
    if constexpr (PAIRED_VALUES) {
        const bool odd = (threadIdx.x & 31) >= 16;  // g >= 4
        #pragma unroll
        for (int r = 0; r < 2; ++r) {
            v.b[r][0] = permute_bytes(p[r], 0u, odd ? 0x1044 : 0x4410);  // token 2q's: (p, 0) or (0, p)
            v.b[r][1] = permute_bytes(p[r], 0u, odd ? 0x3244 : 0x4432);  // token 2q + 1's
        }
    } else {
        v.b[0][0] = p[0];
        v.b[0][1] = p[1];
    }
    return v;
}

// The value mma of dims [4j, 4j + 4) of this lane's eighth, from tokens 2q, 2q+1, 2q+8, 2q+9
// (w[0..3]).
// Paired: rows g and g + 8 are the dims 4j, 4j+1 and 4j+2, 4j+3, the k-slots (token,
// parity), so a token's centroid is two A registers as read; one mma per 8 tokens into
// acc[j]. Otherwise: Vᵀ's A fragments for m-blocks 2j and 2j+1 by byte permutes, then the
// two mma with Pᵀ.
__device__ __forceinline__ void value_mma(const uint2 (&w)[4], const ValueProbabilities& p, float (&acc)[ACC_BLOCKS][4], int j) {
    if constexpr (PAIRED_VALUES) {
        mma_16x8x16(acc[j], w[0].x, w[0].y, w[1].x, w[1].y, p.b[0][0], p.b[0][1]);
        mma_16x8x16(acc[j], w[2].x, w[2].y, w[3].x, w[3].y, p.b[1][0], p.b[1][1]);
    } else {
        mma_16x8x16(acc[2 * j], permute_bytes(w[0].x, w[1].x, 0x5410), permute_bytes(w[0].x, w[1].x, 0x7632),
                    permute_bytes(w[2].x, w[3].x, 0x5410), permute_bytes(w[2].x, w[3].x, 0x7632), p.b[0][0], p.b[0][1]);
        mma_16x8x16(acc[2 * j + 1], permute_bytes(w[0].y, w[1].y, 0x5410), permute_bytes(w[0].y, w[1].y, 0x7632),
                    permute_bytes(w[2].y, w[3].y, 0x5410), permute_bytes(w[2].y, w[3].y, 0x7632), p.b[0][0], p.b[0][1]);
    }
}

// The slab token of a value fragment's t-th token (t = 0..3: 2q, 2q+1, 2q+8, 2q+9).
__device__ __forceinline__ int value_token(int t) { return 2 * (threadIdx.x & 3) + (t & 1) + 8 * (t >> 1); }

// Stage: value accumulation from a slab of coded values. codes[t]: this lane's eighth of
// slab token value_token(t).
__device__ __forceinline__ void accumulate_coded_slab(const int (&codes)[4][V_SPAN], const unsigned (&p)[2],
                                                      const unsigned short* value_book, float (&acc)[ACC_BLOCKS][4]) {
    const unsigned short* book = lane_codebook<V_SUB, V_COPIES>(value_book);
    const ValueProbabilities probabilities = value_probabilities(p);
    #pragma unroll
    for (int j = 0; j < HEAD_DIM / 32; ++j) {
        uint2 w[4];
        #pragma unroll
        for (int t = 0; t < 4; ++t) w[t] = span_dims4<V_SUB, V_COPIES, V_SPAN>(book, codes[t], j);
        value_mma(w, probabilities, acc, j);
    }
}

// The value codes accumulate_coded_slab takes, from a shared-memory tile.
__device__ __forceinline__ void value_codes_of_tile(const unsigned char* tile, int slab, int (&codes)[4][V_SPAN]) {
    const int g = (threadIdx.x & 31) >> 2;
    #pragma unroll
    for (int t = 0; t < 4; ++t) read_codes<V_BITS, V_SPAN>(tile + (slab + value_token(t)) * V_ROW, g * V_SPAN, codes[t]);
}

// The units (pages, or the slot) a warp's share of one tile, coded rows [first, first +
// WARP_TOKENS), spans: one per page. Read a tile ahead of the codes, so the table's latency hides
// behind a tile of compute (the codes' addresses depend on it). Units of rows from `end` on are
// not read.
// With direct loads a warp's share holds whole pages or lies within one (KernelConfig::validate
// refuses the rest, and emit validates): each unit's rows are then consecutive from its base.
static constexpr int WARP_UNITS = PAGED && PAGE_TOKENS < WARP_TOKENS ? WARP_TOKENS / (PAGED ? PAGE_TOKENS : 1) : 1;
struct WarpUnits {
    int unit[WARP_UNITS];
};
__device__ __forceinline__ WarpUnits warp_units(const SequenceView& view, int first, int end) {
    WarpUnits u;
    #pragma unroll
    for (int i = 0; i < WARP_UNITS; ++i) {
        const int row = first + i * (WARP_TOKENS / WARP_UNITS);
        u.unit[i] = row < end ? code_unit(view, row) : 0;
    }
    return u;
}

// Direct code loads (8-bit codes): a warp's share of one tile, coded rows [first, first +
// WARP_TOKENS), straight from global memory into registers, zero from row `end` on; `units`
// from warp_units(first). A slab never crosses a page. A share that lies wholly before `end`
// (every share but the last of a split) takes the path without row masks: about 60 fewer
// instructions per tile (bench/results/h100/kernel-s6).
struct WarpCodes {
    CodeBytes<K_SPAN> key[SLABS][2];
    CodeBytes<V_SPAN> value[SLABS][4];
};
template <bool WHOLE>
__device__ __forceinline__ void load_warp_share(const unsigned char* key_codes, const unsigned char* value_codes,
                                                const WarpUnits& units, const CacheGeometry& geometry, int kv_heads, int kv_head,
                                                int first, int end, WarpCodes& c) {
    // One 64-bit address per unit (page) and lane; every slab and token of the unit is then an
    // immediate offset from it (the rows of a unit are consecutive), instead of a 64-bit
    // row index and address per slab and token.
    constexpr int UNIT_SLABS = SLABS / WARP_UNITS;
    const int lane = threadIdx.x & 31, g = lane >> 2, quarter = lane & 3;
    #pragma unroll
    for (int u = 0; u < WARP_UNITS; ++u) {
        const int row0 = first + 16 * UNIT_SLABS * u;
        const size_t base = WHOLE || row0 < end ? code_row_in(units.unit[u], geometry, kv_heads, kv_head, row0) : 0;
        const unsigned char* key_lane = key_codes + base * K_ROW + g * K_ROW + quarter * K_SPAN;
        const unsigned char* value_lane = value_codes + base * V_ROW + 2 * quarter * V_ROW + g * V_SPAN;
        #pragma unroll
        for (int s = 0; s < UNIT_SLABS; ++s) {
            const int sl = u * UNIT_SLABS + s, slab = first + 16 * sl;
            #pragma unroll
            for (int n = 0; n < 2; ++n) {
                c.key[sl][n] = WHOLE || slab + 8 * n + g < end ? stream_code_bytes<K_SPAN>(key_lane + (16 * s + 8 * n) * K_ROW)
                                                                : zero_code_bytes<K_SPAN>();
            }
            #pragma unroll
            for (int t = 0; t < 4; ++t) {
                // value_token(t) = 2 * quarter + (t & 1) + 8 * (t >> 1): the lane's part is in value_lane.
                c.value[sl][t] = WHOLE || slab + value_token(t) < end
                                     ? stream_code_bytes<V_SPAN>(value_lane + (16 * s + (t & 1) + 8 * (t >> 1)) * V_ROW)
                                     : zero_code_bytes<V_SPAN>();
            }
        }
    }
}
__device__ __forceinline__ void load_warp_codes(const unsigned char* key_codes, const unsigned char* value_codes,
                                                const WarpUnits& units, const CacheGeometry& geometry, int kv_heads, int kv_head,
                                                int first, int end, WarpCodes& c) {
    if (first + WARP_TOKENS <= end) {
        load_warp_share<true>(key_codes, value_codes, units, geometry, kv_heads, kv_head, first, end, c);
    } else {
        load_warp_share<false>(key_codes, value_codes, units, geometry, kv_heads, kv_head, first, end, c);
    }
}

// The slab's scales (SlabScales) of the rows this lane reads.
__device__ __forceinline__ SlabScales slab_scales(const HeadSlots& keys, const HeadSlots& values, int count, int slab) {
    SlabScales scales;
    const int g = (threadIdx.x & 31) >> 2;
    #pragma unroll
    for (int n = 0; n < 2; ++n) {
        const int token = slab + 8 * n + g;
        scales.key[n] = SLOT_INT8 && token < count ? half_to_float(keys.scales[token]) : 1.f;
    }
    #pragma unroll
    for (int t = 0; t < 4; ++t) {
        const int token = slab + value_token(t);
        scales.value[t] = SLOT_INT8 && token < count ? half_to_float(values.scales[token]) : 1.f;
    }
    return scales;
}

// Stage: value accumulation from a slab of slot values, read from global memory.
__device__ __forceinline__ void accumulate_fp16_slab(const HeadSlots& values, int count, int slab, const SlabScales& scales,
                                                     const unsigned (&p)[2], float (&acc)[ACC_BLOCKS][4]) {
    const int g = (threadIdx.x & 31) >> 2;
    const ValueProbabilities probabilities = value_probabilities(p);
    #pragma unroll
    for (int j = 0; j < HEAD_DIM / 32; ++j) {
        uint2 w[4];
        #pragma unroll
        for (int t = 0; t < 4; ++t) {
            const int token = slab + value_token(t);
            const SlotRow row{values.words + (size_t)token * SLOT_WORDS, scales.value[t]};
            w[t].x = w[t].y = 0u;
            if (token < count) w[t] = slot_halves4(row, g * (HEAD_DIM / 8) + 4 * j);
        }
        value_mma(w, probabilities, acc, j);
    }
}
