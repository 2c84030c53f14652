    // Stage: split hand-off (split_handoff.cuh): the last split of this (batch entry, KV head)
    // to finish merges all of them into `out`.
    finish_split(partial_out, partial_max, partial_sum, split_counters, out, reinterpret_cast<float*>(smem));
