// The window flush of a decode step, every layer in one launch. When the QKV projection writes
// a step's new K and V into the slots itself (TokenSlots in qkv_slots.cuh), no append runs
// per layer; what the append did besides, encoding the token that leaves each sequence's fp16
// window, runs here for all layers at once, by the append's rules and arithmetic (side.cuh),
// so the codes are the same bytes. It runs after the lengths advance (seq_len counts the step's
// token) and before the step's first projection: the leaving token's ring slot is the one the
// new token takes. One new token per sequence and a window (residual > 0); the host checks both.

// One layer's buffers (the host's table holds these nine addresses per layer, in this order).
struct FlushLayer {
    const float* key_centroids;    // [1 or kv_heads, K_BOOK, K_SUB] f32
    const float* key_norms;        // [1 or kv_heads, K_BOOK]
    const float* value_centroids;  // [1 or kv_heads, V_BOOK, V_SUB] f32
    const float* value_norms;      // [1 or kv_heads, V_BOOK]
    const float* smooth;           // [kv_heads, HEAD_DIM]
    unsigned char* key_codes;
    unsigned char* value_codes;
    const unsigned short* fp16_keys;    // slot rows (cache_view.cuh)
    const unsigned short* fp16_values;
};

// Where the token that leaves `entry`'s window this step sits (its fp16 slot) and goes (its
// code row): side.cuh's rule for one new token, seq_len counting it. row < 0: nothing leaves
// (a token still in the sinks, no window, or a row past the entry's pages).
struct LeavingToken {
    int slot, row;
};
__device__ __forceinline__ LeavingToken leaving_token(const SequenceView& view, const int* __restrict__ seq_len,
                                                      const CacheGeometry& geometry, int entry) {
    const int sinks = geometry.sinks, residual = geometry.residual;
    const int newest = seq_len[entry] - 1, flushed = newest - residual;
    if (residual <= 0 || flushed < sinks || flushed - sinks >= view.coded) return LeavingToken{-1, -1};
    return LeavingToken{sinks + (newest - sinks) % residual, flushed - sinks};  // the new token's slot next
}

// One side's codebook of `kv_head` in a layer: centroids and their squared norms.
template <bool KEYS> struct SideBook {
    static constexpr int SUB = KEYS ? K_SUB : V_SUB, BOOK = KEYS ? K_BOOK : V_BOOK;
    const float* centroids;
    const float* norms;
};
template <bool KEYS> __device__ __forceinline__ SideBook<KEYS> side_book(const FlushLayer& layer, int kv_head) {
    using Book = SideBook<KEYS>;
    const int index = PER_HEAD_CODEBOOKS ? kv_head : 0;
    return Book{(KEYS ? layer.key_centroids : layer.value_centroids) + (size_t)index * Book::BOOK * Book::SUB,
                (KEYS ? layer.key_norms : layer.value_norms) + (size_t)index * Book::BOOK};
}

// One side (keys or values) of one (layer, KV head, batch entry).
template <bool KEYS>
__device__ __forceinline__ void flush_side(const FlushLayer& layer, const int* __restrict__ seq_len, const int* __restrict__ seq_slot,
                                           const int* __restrict__ page_indptr, const int* __restrict__ page_indices,
                                           const CacheGeometry& geometry) {
    constexpr int SUB = KEYS ? K_SUB : V_SUB, BOOK = KEYS ? K_BOOK : V_BOOK;
    constexpr int BITS = KEYS ? K_BITS : V_BITS, ROW = KEYS ? K_ROW : V_ROW;
    __shared__ float x[HEAD_DIM];
    __shared__ int code[HEAD_DIM];
    const int kv_head = blockIdx.y, entry = blockIdx.z, kv_heads = gridDim.y;
    const SideBook<KEYS> book = side_book<KEYS>(layer, kv_head);
    LaneBook<SUB, BOOK> held;
    load_lane_book<SUB, BOOK>(book.centroids, book.norms, held);
    const LaneSmooth<HEAD_DIM / 32> lambda = load_lane_smooth<HEAD_DIM / 32, KEYS>(layer.smooth + kv_head * HEAD_DIM);
    // The codebooks, λ and the layer table are constant; the lengths and the cache only from here.
    wait_for_predecessor();
    allow_dependents();
    const SequenceView view = sequence_view(seq_len, seq_slot, page_indptr, page_indices, geometry, entry);
    const LeavingToken leaving = leaving_token(view, seq_len, geometry, entry);
    if (leaving.row < 0) return;  // the whole block
    const SlotRow from = slot_row(head_slots(KEYS ? layer.fp16_keys : layer.fp16_values, view, geometry, kv_heads, kv_head), leaving.slot);
    if (threadIdx.x < 32) stage_slot_row<KEYS>(from, lambda, x);  // warp 0 (append's rule, side.cuh)
    __syncthreads();
    nearest_codes<SUB, BOOK, HEAD_DIM / SUB, WARPS>(x, book.centroids, book.norms, held, code, threadIdx.x >> 5);
    __syncthreads();
    unsigned char* codes = KEYS ? layer.key_codes : layer.value_codes;
    pack_codes<BITS, ROW>(code, HEAD_DIM / SUB, codes + code_row_index(view, geometry, kv_heads, kv_head, leaving.row) * ROW, threadIdx.x,
                          THREADS);
}

// The flush with one warp per row, for books held in registers (up to 256 entries: the
// 2-bit and 4-bit codecs). A block serves FLUSH_ROWS batch entries of one (layer side, KV head);
// the block-per-row version above spends 8 warps (and 8 register copies of the book) on one
// 64-value row. The append's stages (encode.cuh), the search by a team of one warp.
static constexpr int FLUSH_ROWS = WARPS;

template <bool KEYS>
__device__ __forceinline__ void flush_row_warp(const FlushLayer& layer, const int* __restrict__ seq_len,
                                               const int* __restrict__ seq_slot, const int* __restrict__ page_indptr,
                                               const int* __restrict__ page_indices, const CacheGeometry& geometry, int entries) {
    constexpr int SUB = KEYS ? K_SUB : V_SUB, BOOK = KEYS ? K_BOOK : V_BOOK;
    constexpr int BITS = KEYS ? K_BITS : V_BITS, ROW = KEYS ? K_ROW : V_ROW;
    constexpr int CODES = HEAD_DIM / SUB, PER_LANE = HEAD_DIM / 32;
    static_assert(LaneBook<SUB, BOOK>::HELD, "the warp-per-row flush needs books held in registers");
    __shared__ float rows[FLUSH_ROWS][HEAD_DIM];
    __shared__ int row_codes[FLUSH_ROWS][CODES];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int kv_head = blockIdx.y, kv_heads = gridDim.y, entry = blockIdx.z * FLUSH_ROWS + warp;
    const SideBook<KEYS> book = side_book<KEYS>(layer, kv_head);
    LaneBook<SUB, BOOK> held;
    load_lane_book<SUB, BOOK>(book.centroids, book.norms, held);
    const LaneSmooth<PER_LANE> lambda = load_lane_smooth<PER_LANE, KEYS>(layer.smooth + kv_head * HEAD_DIM);
    wait_for_predecessor();
    allow_dependents();
    if (entry >= entries) return;  // everything below is per warp: no block barrier
    const SequenceView view = sequence_view(seq_len, seq_slot, page_indptr, page_indices, geometry, entry);
    const LeavingToken leaving = leaving_token(view, seq_len, geometry, entry);
    if (leaving.row < 0) return;  // the whole warp
    const int row = leaving.row;
    const SlotRow from = slot_row(head_slots(KEYS ? layer.fp16_keys : layer.fp16_values, view, geometry, kv_heads, kv_head), leaving.slot);
    stage_slot_row<KEYS>(from, lambda, rows[warp]);
    __syncwarp();
    nearest_codes_held<SUB, BOOK, CODES, 1>(rows[warp], held, row_codes[warp], 0);
    __syncwarp();
    unsigned char* out = (KEYS ? layer.key_codes : layer.value_codes) + code_row_index(view, geometry, kv_heads, kv_head, row) * ROW;
    pack_codes<BITS, ROW>(row_codes[warp], CODES, out, lane, 32);
}
