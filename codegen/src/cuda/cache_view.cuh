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
