// Stage: async tile pipeline. Issues the copy of `rows` code rows of K and V, from coded row
// `first` on, into a shared-memory slot with cp.async, zero-filled past the last row. Each
// 16-byte copy resolves its own address; it never crosses a page (see code_row_index).
//
// The page ids come from tile_units, read a tile ahead (their latency hides behind a tile of
// compute): lane l of every warp holds the unit of the tile's 16-row slab l, and a copy takes
// its slab's unit from that lane by shuffle. A tile has at most 512 / 16 = 32 slabs.
static_assert(TILE / 16 <= 32, "one lane per 16-row slab of a tile");

__device__ __forceinline__ int tile_units(const SequenceView& view, int first, int end) {
    const int lane = threadIdx.x & 31, row = first + 16 * lane;
    return lane < TILE / 16 && row < end ? code_unit(view, row) : 0;
}

template <int ROW> __device__ __forceinline__ void copy_rows(unsigned char* slot, const unsigned char* codes, int units,
                                                             const CacheGeometry& geometry, int kv_heads, int kv_head, int first,
                                                             int rows) {
    // Every lane runs every round (the shuffle needs the whole warp); copies past the tile are
    // masked.
    for (int base = 0; base < TILE * ROW / 16; base += THREADS) {
        const int c = base + threadIdx.x, byte = c * 16, row = byte / ROW, left = rows * ROW - byte;
        const int unit = __shfl_sync(0xffffffffu, units, min(row / 16, 31));
        if (c < TILE * ROW / 16) {
            const unsigned char* src = codes;
            if (left > 0) src += code_row_in(unit, geometry, kv_heads, kv_head, first + row) * ROW + (byte - row * ROW);
            copy_async_16(slot + byte, src, left >= 16 ? 16 : (left > 0 ? left : 0));
        }
    }
}

__device__ __forceinline__ void load_code_tile(unsigned char* key_slot, unsigned char* value_slot, const unsigned char* key_codes,
                                               const unsigned char* value_codes, int units, const CacheGeometry& geometry,
                                               int kv_heads, int kv_head, int first, int rows) {
    copy_rows<K_ROW>(key_slot, key_codes, units, geometry, kv_heads, kv_head, first, rows);
    copy_rows<V_ROW>(value_slot, value_codes, units, geometry, kv_heads, kv_head, first, rows);
}

// Issues tile t of the split's coded rows [begin, end) into slot t % STAGES (its units from
// tile_units) and commits the group; past the last tile the group is empty, which keeps the
// wait counts uniform.
__device__ __forceinline__ void issue_tile(unsigned char* key_tiles, unsigned char* value_tiles, const unsigned char* key_codes,
                                           const unsigned char* value_codes, int units, const CacheGeometry& geometry,
                                           int kv_heads, int kv_head, int begin, int end, int t, int tiles) {
    if (t < tiles) {
        const int slot = t % STAGES;
        load_code_tile(key_tiles + slot * TILE * K_ROW, value_tiles + slot * TILE * V_ROW, key_codes, value_codes, units, geometry,
                       kv_heads, kv_head, begin + t * TILE, min(TILE, end - begin - t * TILE));
    }
    commit_async();
}
