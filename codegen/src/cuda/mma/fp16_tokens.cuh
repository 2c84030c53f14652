    float acc[ACC_BLOCKS][4];
    RunState run;
    #pragma unroll
    for (int i = 0; i < ACC_BLOCKS; ++i) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.f;

    // fp16 tokens (at most sinks + residual), a slab per warp: the split holding the sequence's
    // last coded row takes them all (fp16_split). The first split took them before: its block
    // then ran 2-7 us longer than the others at batch 1 and set the kernel's length
    // (bench/results/kernel-s29).
    if (split == fp16_split(view.coded, tokens_per_split, splits)) {
        unsigned plain_fragments[CHUNKS][4];
        query_fragments(query_plain, plain_fragments);
        const HeadSlots keys = head_slots(fp16_keys, view, geometry, kv_heads, kv_head);
        const HeadSlots values = head_slots(fp16_values, view, geometry, kv_heads, kv_head);
        const int count = view.fp16;
        for (int slab = warp * 16; slab < count; slab += WARPS * 16) {
            SlabScores s[1];
            unsigned p[1][2];
            const SlabScales scales = slab_scales(keys, values, count, slab);
            score_fp16_slab(keys, count, slab, scales, plain_fragments, s[0]);
            online_softmax<1>(s, slab, count, run, acc, p);
            accumulate_fp16_slab(values, count, slab, scales, p[0], acc);
        }
    }

    // Coded rows [begin, end) of this split; each warp takes WARP_TOKENS of a tile.
    unsigned fragments[CHUNKS][4];
    query_fragments(query_t, fragments);
