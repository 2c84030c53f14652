// Where a batch entry's tokens live: the one place that maps (batch entry, KV head, token) to
// an address. Every kernel (both attention families, quantize-and-append, bulk prefill) goes
// through sequence_view, code_row_index and fp16_slot_index; the layout is a constant (PAGED).
//
// The tables come from the runtime's own caches or from an engine that manages its pages.
// Every index read from them is clamped into the buffers' bounds, so a wrong table gives wrong
// numbers, never an access outside the cache.

// The cache's buffers, as the launch describes them (passed by value).
struct CacheGeometry {
    int slots;          // sequence slots: fp16 regions (and, contiguous, code regions)
    int code_extent;    // contiguous: code rows per (slot, KV head); paged: pages in the pool
    int index_count;    // paged: entries of page_indices
    int fp16_capacity;  // fp16 tokens per (slot, KV head): sinks + residual
    int sinks, residual;
};

// One batch entry: its token counts, slot and pages.
struct SequenceView {
    int fp16;           // tokens in fp16 slots: sinks first, then the window's ring
    int coded;          // tokens as code rows (row r is token sinks + r)
    int slot;
    const int* pages;   // paged: the entry's page ids, in row order
    int page_count;
};

// Tokens of a sequence of `total` that sit in fp16 slots (the CPU reference's rule).
__device__ __forceinline__ int fp16_tokens(int total, int sinks, int residual) {
    return min(total, sinks) + min(max(total - sinks, 0), residual);
}

// The split that takes a sequence's fp16 tokens: the one holding its last coded row. For the
// launch's longest sequence that is the last split, which holds the fewest coded rows (the
// remainder; splits are whole tiles), so its block does not end after the others.
__device__ __forceinline__ int fp16_split(int coded, int tokens_per_split, int splits) {
    return min(splits - 1, coded / tokens_per_split);
}

// `seq_len[entry]` counts every token of the entry, this step's appended ones included.
__device__ __forceinline__ SequenceView sequence_view(const int* __restrict__ seq_len, const int* __restrict__ seq_slot,
                                                      const int* __restrict__ page_indptr, const int* __restrict__ page_indices,
                                                      const CacheGeometry& geometry, int entry) {
    SequenceView view;
    const int total = max(seq_len[entry], 0);
    view.fp16 = fp16_tokens(total, geometry.sinks, geometry.residual);
    view.slot = min(max(seq_slot[entry], 0), geometry.slots - 1);
    long long rows;
    if constexpr (PAGED) {
        const int first = min(max(page_indptr[entry], 0), geometry.index_count);
        const int last = min(max(page_indptr[entry + 1], first), geometry.index_count);
        view.pages = page_indices + first;
        view.page_count = last - first;
        rows = (long long)view.page_count * PAGE_TOKENS;
    } else {
        view.pages = page_indices;
        view.page_count = 0;
        rows = geometry.code_extent;
    }
    view.coded = (int)min((long long)(total - view.fp16), rows);
    return view;
}

// Index of code row `row` (0 <= row < view.coded) of KV head `kv_head`; the byte address is
// that times K_ROW (keys) or V_ROW (values). Rows of one page are consecutive, and a page holds
// a multiple of 16 rows, so the 16 rows of an aligned slab are index .. index + 15.
//
// In two steps, so that a kernel can read the table early and hide its latency:
// code_unit reads the page of `row` (paged) or takes the slot (contiguous); code_row_in maps a
// unit and row to the index, clamping a page id read from the table into the pool.
__device__ __forceinline__ int code_unit(const SequenceView& view, int row) {
    if constexpr (PAGED) {
        return __ldg(view.pages + row / PAGE_TOKENS);
    } else {
        return view.slot;
    }
}

__device__ __forceinline__ size_t code_row_in(int unit, const CacheGeometry& geometry, int kv_heads, int kv_head, int row) {
    if constexpr (PAGED) {
        const unsigned page = min((unsigned)unit, (unsigned)(geometry.code_extent - 1));
        return ((size_t)page * kv_heads + kv_head) * PAGE_TOKENS + row % PAGE_TOKENS;
    } else {
        return ((size_t)unit * kv_heads + kv_head) * geometry.code_extent + row;
    }
}

__device__ __forceinline__ size_t code_row_index(const SequenceView& view, const CacheGeometry& geometry, int kv_heads, int kv_head,
                                                 int row) {
    return code_row_in(code_unit(view, row), geometry, kv_heads, kv_head, row);
}

// Index of fp16 slot `index` (0 <= index < fp16_capacity) of KV head `kv_head`; the element
// address is that times HEAD_DIM.
__device__ __forceinline__ size_t fp16_slot_index(const SequenceView& view, const CacheGeometry& geometry, int kv_heads, int kv_head,
                                                  int index) {
    return ((size_t)view.slot * kv_heads + kv_head) * geometry.fp16_capacity + index;
}

// The slot rows (sinks and window) of a buffer, keys or values: `[slots, kv_heads,
// fp16_capacity]` rows of SLOT_WORDS 16-bit words, numbered by fp16_slot_index. f16 rows hold
// HEAD_DIM halves. SLOT_INT8 rows hold HEAD_DIM int8 codes (two a word), and after the buffer's
// last row come the rows' f16 scales, one a row in the same order; element e of a row reads as
// f16(code_e · scale), rounded once (the CPU reference's rule, vecinfer_quant::window).
static constexpr int SLOT_WORDS = SLOT_INT8 ? HEAD_DIM / 2 : HEAD_DIM;

// Rows in the buffer: where its scales begin (in rows of SLOT_WORDS).
__device__ __forceinline__ size_t slot_rows_in(const CacheGeometry& geometry, int kv_heads) {
    return (size_t)geometry.slots * kv_heads * geometry.fp16_capacity;
}

// One (sequence slot, KV head)'s slot rows in one buffer.
struct HeadSlots {
    const unsigned short* words;   // row i at words + i * SLOT_WORDS
    const unsigned short* scales;  // SLOT_INT8: row i's scale at scales[i]
};
__device__ __forceinline__ HeadSlots head_slots(const unsigned short* buffer, const SequenceView& view, const CacheGeometry& geometry,
                                                int kv_heads, int kv_head) {
    const size_t first = fp16_slot_index(view, geometry, kv_heads, kv_head, 0);
    return HeadSlots{buffer + first * SLOT_WORDS, buffer + slot_rows_in(geometry, kv_heads) * SLOT_WORDS + first};
}

// One slot row, for reads: its words and (SLOT_INT8) its scale.
struct SlotRow {
    const unsigned short* words;
    float scale;
};
__device__ __forceinline__ SlotRow slot_row(const HeadSlots& slots, int i) {
    return SlotRow{slots.words + (size_t)i * SLOT_WORDS, SLOT_INT8 ? half_to_float(slots.scales[i]) : 1.f};
}

// An int8 code's value under its row's scale, as f16 bits: the product is exact in f32.
__device__ __forceinline__ unsigned int8_value_half(int code, float scale) { return float_to_half(__fmul_rn((float)code, scale)); }
__device__ __forceinline__ unsigned int8_half(unsigned word, int byte, float scale) {
    return int8_value_half((int)(signed char)(word >> (8 * byte)), scale);
}

// Dims [dim, dim + 4) of a slot row as packed f16 (dim a multiple of 4).
__device__ __forceinline__ uint2 slot_halves4(const SlotRow& row, int dim) {
    if constexpr (SLOT_INT8) {
        const unsigned w = *reinterpret_cast<const unsigned*>(reinterpret_cast<const unsigned char*>(row.words) + dim);
        return make_uint2(int8_half(w, 0, row.scale) | (int8_half(w, 1, row.scale) << 16),
                          int8_half(w, 2, row.scale) | (int8_half(w, 3, row.scale) << 16));
    } else {
        return *reinterpret_cast<const uint2*>(row.words + dim);
    }
}

// Dims [dim, dim + N) of a slot row as floats (N a multiple of 4, dim a multiple of N).
template <int N> __device__ __forceinline__ void slot_floats(const SlotRow& row, int dim, float* out) {
    if constexpr (SLOT_INT8) {
        #pragma unroll
        for (int i = 0; i < N / 4; ++i) {
            const uint2 h = slot_halves4(row, dim + 4 * i);
            out[4 * i + 0] = half_to_float(h.x & 0xffff); out[4 * i + 1] = half_to_float(h.x >> 16);
            out[4 * i + 2] = half_to_float(h.y & 0xffff); out[4 * i + 3] = half_to_float(h.y >> 16);
        }
    } else {
        load_halves<N>(row.words + dim, out);
    }
}

// Element e of a slot row as a float.
__device__ __forceinline__ float slot_element(const SlotRow& row, int e) {
    if constexpr (SLOT_INT8) {
        return half_to_float(int8_half(reinterpret_cast<const unsigned char*>(row.words)[e], 0, row.scale));
    } else {
        return half_to_float(row.words[e]);
    }
}
