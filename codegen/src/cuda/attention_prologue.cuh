    // Prologue (both attention families): shared-memory regions and this block's place in the
    // grid (its split, KV head and batch entry). Nothing here reads global memory.
    extern __shared__ __align__(16) unsigned char smem[];
    unsigned short* key_book = reinterpret_cast<unsigned short*>(smem + OFF_KEY_BOOK);
    unsigned short* value_book = reinterpret_cast<unsigned short*>(smem + OFF_VALUE_BOOK);
    float* query_t = reinterpret_cast<float*>(smem + OFF_QUERY_T);
    float* query_plain = reinterpret_cast<float*>(smem + OFF_QUERY);
    unsigned char* key_tiles = smem + OFF_KEY_TILES;
    unsigned char* value_tiles = smem + OFF_VALUE_TILES;
    const int split = blockIdx.x, kv_head = blockIdx.y, entry = blockIdx.z;
    const int splits = gridDim.x, kv_heads = gridDim.y, tid = threadIdx.x;
    const size_t row0 = (size_t)(entry * kv_heads + kv_head) * GROUP;  // first query head's output row
