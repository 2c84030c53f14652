#!/usr/bin/env bash
# Session 31, H200: gpu_paged on the final build, with the engine's own tables planned by
# plan_for_lengths (README, "Ragged batches and split plans").
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
R=$OUT/r; mkdir -p $R
xz -dc .carry/s31/gpu_paged.xz > /tmp/gpu_paged && chmod +x /tmp/gpu_paged
VECINFER_REQUIRE_GPU=1 timeout 120 /tmp/gpu_paged --ignored --test-threads 1 > $R/gpu_paged.log 2>&1; echo "gpu_paged rc $?"; grep -E "^test |test result" $R/gpu_paged.log
cd $OUT && tar czf r.tgz r && rm -r r
