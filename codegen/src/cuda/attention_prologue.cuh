    // Prologue (both attention families): shared-memory regions and this block's place in the
    // grid: its item of the work list (batch_pieces.cuh; a static table, read before the wait
    // for the previous kernel) and its KV head.
    extern __shared__ __align__(16) unsigned char smem[];
    unsigned short* key_book = reinterpret_cast<unsigned short*>(smem + OFF_KEY_BOOK);
    unsigned short* value_book = reinterpret_cast<unsigned short*>(smem + OFF_VALUE_BOOK);
    float* query_t = reinterpret_cast<float*>(smem + OFF_QUERY_T);
    float* query_plain = reinterpret_cast<float*>(smem + OFF_QUERY);
    unsigned char* key_tiles = smem + OFF_KEY_TILES;
    unsigned char* value_tiles = smem + OFF_VALUE_TILES;
    // Its loads are issued here and used after the codebook copy, which hides their latency.
    const WorkItem item = work_item(work, generation, blockIdx.x, batch, tokens_per_split);
    const int kv_head = blockIdx.y, kv_heads = gridDim.y, tid = threadIdx.x;
