#!/usr/bin/env bash
# Session 5, second H100 run after reading page ids a tile ahead and the pinned table uploads:
# the paged GPU tests again (memcheck on the paged kernels), then paged against contiguous for
# 2-bit at every page size and for 4- and 1.25-bit at 64 and 256 tokens per page, SDPA beside.
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
cd .carry/gpu
export VECINFER_REQUIRE_GPU=1
timeout 200 ./gpu_paged --include-ignored --test-threads 1 --nocapture > $OUT/gpu-paged.log 2>&1; echo "gpu_paged rc $?"
timeout 200 ./gpu_attention --include-ignored --test-threads 1 --nocapture in_pages > $OUT/gpu-attention-pages.log 2>&1; echo "gpu_attention in_pages rc $?"
timeout 120 ./gpu_append --include-ignored --test-threads 1 > $OUT/gpu-append.log 2>&1; echo "gpu_append rc $?"
timeout 200 compute-sanitizer --tool memcheck ./gpu_paged --include-ignored --test-threads 1 an_engine > $OUT/memcheck-paged.log 2>&1; echo "memcheck rc $?"
grep -h "test result" $OUT/gpu-*.log; grep -h "ERROR SUMMARY" $OUT/memcheck-paged.log
S=1x32768,8x32768,32x8192,64x8192,128x4096
python3 fp16_decode_baseline.py --shapes $S --json $OUT/sdpa-llama.json > $OUT/sdpa-llama.log 2>&1
timeout 200 ./vecinfer bench --shapes $S --codecs d4b8/d4b8 --layouts contiguous,paged16,paged32,paged64,paged128,paged256,paged512 --runs 30 \
  --baseline $OUT/sdpa-llama.json --json $OUT/bench-2bit.json > $OUT/bench-2bit.log 2>&1; echo "bench 2-bit rc $?"
timeout 150 ./vecinfer bench --shapes $S --codecs d2b8/d2b8,d8b12/d8b8 --layouts contiguous,paged64,paged256 --runs 30 \
  --baseline $OUT/sdpa-llama.json --json $OUT/bench-codecs.json > $OUT/bench-codecs.log 2>&1; echo "bench codecs rc $?"
grep -vE "^(verified|skipped)" $OUT/bench-2bit.log | tail -37 | cut -c1-150; grep -vE "^(verified|skipped)" $OUT/bench-codecs.log | tail -31 | cut -c1-150
