#!/usr/bin/env bash
# Session 5: paged against contiguous on the H100, every page size from 16 to 512 tokens, in
# one run with SDPA FP16 beside it (the default kernel config; each config verified against
# the CPU reference before it is timed). Llama-3.1-8B shape, then SmolLM2's (9/3 heads, D 64).
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
cd .carry/gpu
L=contiguous,paged16,paged32,paged64,paged128,paged256,paged512
python3 fp16_decode_baseline.py --shapes 1x32768,8x32768,32x8192,64x8192,128x4096 --json $OUT/sdpa-llama.json > $OUT/sdpa-llama.log 2>&1
timeout 330 ./vecinfer bench --shapes 1x32768,8x32768,32x8192,64x8192,128x4096 --codecs d4b8/d4b8 --layouts $L --runs 30 \
  --baseline $OUT/sdpa-llama.json --json $OUT/bench-llama.json > $OUT/bench-llama.log 2>&1; echo "bench llama rc $?"
python3 fp16_decode_baseline.py --heads 9 --kv-heads 3 --head-dim 64 --shapes 64x8192,256x2048 --json $OUT/sdpa-smollm2.json > $OUT/sdpa-smollm2.log 2>&1
timeout 150 ./vecinfer bench --heads 9 --kv-heads 3 --head-dim 64 --shapes 64x8192,256x2048 --codecs d4b8/d4b8 --layouts contiguous,paged16,paged64,paged256 --runs 30 \
  --baseline $OUT/sdpa-smollm2.json --json $OUT/bench-smollm2.json > $OUT/bench-smollm2.log 2>&1; echo "bench smollm2 rc $?"
grep -vE "^(verified|skipped)" $OUT/bench-llama.log | tail -40; grep -vE "^(verified|skipped)" $OUT/bench-smollm2.log | tail -12
