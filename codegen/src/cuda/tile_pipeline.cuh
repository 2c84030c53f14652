// Stage: async tile pipeline. Issues the copy of `rows` code rows of K and V, from coded row
// `first` on, into a shared-memory slot with cp.async, zero-filled past the last row. Each
// 16-byte copy resolves its own address; it never crosses a page (see code_row_index).
__device__ __forceinline__ void load_code_tile(unsigned char* key_slot, unsigned char* value_slot, const unsigned char* key_codes,
                                               const unsigned char* value_codes, const SequenceView& view,
                                               const CacheGeometry& geometry, int kv_heads, int kv_head, int first, int rows) {
    for (int c = threadIdx.x; c < TILE * K_ROW / 16; c += THREADS) {
        const int byte = c * 16, row = byte / K_ROW, left = rows * K_ROW - byte;
        const unsigned char* src = key_codes;
        if (left > 0) src += code_row_index(view, geometry, kv_heads, kv_head, first + row) * K_ROW + (byte - row * K_ROW);
        copy_async_16(key_slot + byte, src, left >= 16 ? 16 : (left > 0 ? left : 0));
    }
    for (int c = threadIdx.x; c < TILE * V_ROW / 16; c += THREADS) {
        const int byte = c * 16, row = byte / V_ROW, left = rows * V_ROW - byte;
        const unsigned char* src = value_codes;
        if (left > 0) src += code_row_index(view, geometry, kv_heads, kv_head, first + row) * V_ROW + (byte - row * V_ROW);
        copy_async_16(value_slot + byte, src, left >= 16 ? 16 : (left > 0 ? left : 0));
    }
}

// Issues tile t of the split's coded rows [begin, end) into slot t % STAGES and commits the
// group; past the last tile the group is empty, which keeps the wait counts uniform.
__device__ __forceinline__ void issue_tile(unsigned char* key_tiles, unsigned char* value_tiles, const unsigned char* key_codes,
                                           const unsigned char* value_codes, const SequenceView& view, const CacheGeometry& geometry,
                                           int kv_heads, int kv_head, int begin, int end, int t, int tiles) {
    if (t < tiles) {
        const int slot = t % STAGES;
        load_code_tile(key_tiles + slot * TILE * K_ROW, value_tiles + slot * TILE * V_ROW, key_codes, value_codes, view, geometry,
                       kv_heads, kv_head, begin + t * TILE, min(TILE, end - begin - t * TILE));
    }
    commit_async();
}
