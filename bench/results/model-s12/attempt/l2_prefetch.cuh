// L2 prefetch of a split's code pages (paged layout, sm_90; a no-op elsewhere and in the CPU
// emulation). A batch-1 block reads only a few tiles, each a dependent DRAM round trip; asking
// L2 for all of them at once, before the wait (dependent_launch.cuh) while the kernel before
// still runs, turns those round trips into L2 hits. The lengths and the page table read here
// may be a step old (the kernel before may still write them), so they only steer prefetches:
// read through L2 (`__ldcg`: no stale line left in L1 for the reads after the wait), every
// page id clamped into the pool, and no result depends on them.
__device__ __forceinline__ void prefetch_to_l2(const void* p, unsigned bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" :: "l"(p), "r"(bytes) : "memory");
#endif
}

// Warp-wide: lane l prefetches pages l, l + 32, ... of code rows [split * tokens_per_split,
// + min(tokens_per_split, max_rows)) of (entry, kv_head), keys and values.
__device__ __forceinline__ void prefetch_split_pages(const unsigned char* key_codes, const unsigned char* value_codes,
                                                     const int* seq_len, const int* page_indptr, const int* page_indices,
                                                     const CacheGeometry& geometry, int kv_heads, int kv_head, int entry,
                                                     int split, int tokens_per_split, int max_rows, int lane) {
    if constexpr (PAGED) {
        const int total = max(__ldcg(seq_len + entry), 0);
        const int coded = total - fp16_tokens(total, geometry.sinks, geometry.residual);
        const int first = min(max(__ldcg(page_indptr + entry), 0), geometry.index_count);
        const int last = min(max(__ldcg(page_indptr + entry + 1), first), geometry.index_count);
        const long long begin = (long long)split * tokens_per_split;
        const long long end = min(min((long long)coded, (long long)(last - first) * PAGE_TOKENS),
                                  begin + min(tokens_per_split, max_rows));
        for (long long p = begin / PAGE_TOKENS + lane; p * PAGE_TOKENS < end; p += 32) {
            const unsigned page = min((unsigned)__ldcg(page_indices + first + p), (unsigned)(geometry.code_extent - 1));
            const size_t row = ((size_t)page * kv_heads + kv_head) * PAGE_TOKENS;
            prefetch_to_l2(key_codes + row * K_ROW, PAGE_TOKENS * K_ROW);
            prefetch_to_l2(value_codes + row * V_ROW, PAGE_TOKENS * V_ROW);
        }
    }
}
