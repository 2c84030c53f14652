#!/usr/bin/env bash
# Session 5, fourth H100 run, after the cp.async tile pipeline reads page ids a tile ahead:
# every GPU test, memcheck and racecheck on the paged kernels, then the staged kernels
# (12-bit keys) paged against contiguous, with 2-bit beside them, SDPA in the same run.
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
cd .carry/gpu
nvidia-smi --query-gpu=name --format=csv,noheader
export VECINFER_REQUIRE_GPU=1
(VECINFER_REAL_KV=smollm2-kv.safetensors VECINFER_REAL_CODEBOOKS=cb-d4b8-d4b8-layer.safetensors timeout 300 ./gpu_attention --ignored --test-threads 1 --nocapture > $OUT/gpu-attention.log 2>&1; echo "gpu_attention rc $?") &
(timeout 100 ./gpu_paged --ignored --test-threads 1 --nocapture > $OUT/gpu-paged.log 2>&1; echo "gpu_paged rc $?"
 timeout 100 ./gpu_append --ignored --test-threads 1 > $OUT/gpu-append.log 2>&1; echo "gpu_append rc $?"
 timeout 60 ./gpu_tuner --ignored > $OUT/gpu-tuner.log 2>&1; echo "gpu_tuner rc $?"
 timeout 200 compute-sanitizer --tool memcheck ./gpu_paged --ignored --test-threads 1 > $OUT/memcheck-paged.log 2>&1; echo "memcheck rc $?"
 timeout 200 compute-sanitizer --tool racecheck ./gpu_paged --ignored --test-threads 1 an_engine > $OUT/racecheck-paged.log 2>&1; echo "racecheck rc $?") &
wait
grep -h "test result" $OUT/*.log; grep -hE "ERROR SUMMARY|RACECHECK SUMMARY" $OUT/*check-paged.log
S=1x32768,8x32768,32x8192,64x8192,128x4096
python3 fp16_decode_baseline.py --shapes $S --json $OUT/sdpa-llama.json > /dev/null 2>&1
timeout 150 ./vecinfer bench --shapes $S --codecs d8b12/d8b8,d8b12/d8b12,d4b8/d4b8 --layouts contiguous,paged64,paged256 --runs 30 \
  --baseline $OUT/sdpa-llama.json --json $OUT/bench-staged.json > $OUT/bench-staged.log 2>&1; echo "bench rc $?"
grep -E "^ +[0-9]+ +[0-9]+ +d" $OUT/bench-staged.log | cut -c1-150
cd $OUT && tar czf logs.tgz *.log && rm -f *.log
