#!/usr/bin/env bash
# Session 5, third run (H100): the paged tests after the lengths-only uploads, memcheck and
# racecheck on the paged kernels, then paged against contiguous (2-bit at every page size;
# 4-bit and 1.25-bit at 64 and 256; SmolLM2's shape), SDPA beside it in the same run.
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
cd .carry/gpu
nvidia-smi --query-gpu=name --format=csv,noheader
export VECINFER_REQUIRE_GPU=1
timeout 100 ./gpu_paged --include-ignored --test-threads 1 --nocapture > $OUT/gpu-paged.log 2>&1; echo "gpu_paged rc $?"
timeout 100 ./gpu_append --include-ignored --test-threads 1 > $OUT/gpu-append.log 2>&1; echo "gpu_append rc $?"
(timeout 250 compute-sanitizer --tool memcheck ./gpu_paged --include-ignored --test-threads 1 > $OUT/memcheck-paged.log 2>&1; echo "memcheck rc $?"
 timeout 250 compute-sanitizer --tool racecheck ./gpu_paged --include-ignored --test-threads 1 an_engine > $OUT/racecheck-paged.log 2>&1; echo "racecheck rc $?") > $OUT/sanitizers.txt &
S=1x32768,8x32768,32x8192,64x8192,128x4096
python3 fp16_decode_baseline.py --shapes $S --json $OUT/sdpa-llama.json > $OUT/sdpa-llama.log 2>&1
python3 fp16_decode_baseline.py --heads 9 --kv-heads 3 --head-dim 64 --shapes 64x8192,256x2048 --json $OUT/sdpa-smollm2.json > $OUT/sdpa-smollm2.log 2>&1
wait
cat $OUT/sanitizers.txt; grep -h "test result" $OUT/gpu-*.log $OUT/*check-paged.log; grep -hE "ERROR SUMMARY|RACECHECK SUMMARY" $OUT/*check-paged.log
timeout 150 ./vecinfer bench --shapes $S --codecs d4b8/d4b8 --layouts contiguous,paged16,paged32,paged64,paged128,paged256,paged512 --runs 30 \
  --baseline $OUT/sdpa-llama.json --json $OUT/bench-2bit.json > $OUT/bench-2bit.log 2>&1; echo "bench 2-bit rc $?"
timeout 100 ./vecinfer bench --shapes $S --codecs d2b8/d2b8,d8b12/d8b8 --layouts contiguous,paged64,paged256 --runs 30 \
  --baseline $OUT/sdpa-llama.json --json $OUT/bench-codecs.json > $OUT/bench-codecs.log 2>&1; echo "bench codecs rc $?"
timeout 60 ./vecinfer bench --heads 9 --kv-heads 3 --head-dim 64 --shapes 64x8192,256x2048 --codecs d4b8/d4b8 --layouts contiguous,paged16,paged64,paged256 --runs 30 \
  --baseline $OUT/sdpa-smollm2.json --json $OUT/bench-smollm2.json > $OUT/bench-smollm2.log 2>&1; echo "bench smollm2 rc $?"
for f in 2bit codecs smollm2; do grep -E "^ +[0-9]+ +[0-9]+ +d" $OUT/bench-$f.log | cut -c1-175; done
