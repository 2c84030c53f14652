#!/usr/bin/env bash
# Session 34, H200: the split-query test after the review (both key mma forms must lower the
# error with the low part).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
R=$OUT/r; mkdir -p $R
xz -dc .carry/s34/gpu_attention.xz > /tmp/gpu_attention && chmod +x /tmp/gpu_attention
VECINFER_REQUIRE_GPU=1 timeout 120 /tmp/gpu_attention --ignored --exact the_split_query_low_part_lowers_the_error --test-threads 1 --nocapture > $R/split-query.log 2>&1; echo "rc $?"
grep -E "worst rel err|test result" $R/split-query.log
cd $OUT && tar czf r.tgz r && rm -r r
