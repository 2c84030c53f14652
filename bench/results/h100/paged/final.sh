#!/usr/bin/env bash
# Session 5, last H100 check after the review mends (the reference uploads' fp16 slot rule in
# one place): the attention tests (contiguous and paged, shipped variants and axes), the paged
# engine workload and own-tables tests, quantize-and-append in both layouts.
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc VECINFER_REQUIRE_GPU=1
cd .carry/v
(timeout 280 ./gpu_attention --ignored --test-threads 1 > $OUT/gpu-attention.log 2>&1; echo "gpu_attention rc $?") &
(timeout 120 ./gpu_paged --ignored --test-threads 1 > $OUT/gpu-paged.log 2>&1; echo "gpu_paged rc $?"; timeout 120 ./gpu_append --ignored --test-threads 1 > $OUT/gpu-append.log 2>&1; echo "gpu_append rc $?") &
wait; grep -h "test result" $OUT/*.log
