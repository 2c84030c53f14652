    // Prologue (both attention families): shared-memory regions, this block's place in the
    // grid, its batch entry and the coded rows [begin, end) of its split.
    extern __shared__ __align__(16) unsigned char smem[];
    unsigned short* key_book = reinterpret_cast<unsigned short*>(smem + OFF_KEY_BOOK);
    unsigned short* value_book = reinterpret_cast<unsigned short*>(smem + OFF_VALUE_BOOK);
    float* query_t = reinterpret_cast<float*>(smem + OFF_QUERY_T);
    float* query_plain = reinterpret_cast<float*>(smem + OFF_QUERY);
    unsigned char* key_tiles = smem + OFF_KEY_TILES;
    unsigned char* value_tiles = smem + OFF_VALUE_TILES;
    const int split = blockIdx.x, kv_head = blockIdx.y, entry = blockIdx.z;
    const int splits = gridDim.x, kv_heads = gridDim.y, tid = threadIdx.x;
    const SequenceView view = sequence_view(seq_len, seq_slot, page_indptr, page_indices, geometry, entry);
    const int begin = split * tokens_per_split;
    const int end = min(view.coded, begin + tokens_per_split);
    // A launch whose splits do not cover the sequence would drop tokens: poison the result.
    const bool covered = view.coded <= (long long)splits * tokens_per_split;
    const size_t row0 = (size_t)(entry * kv_heads + kv_head) * GROUP;  // first query head's output row
