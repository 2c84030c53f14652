#!/usr/bin/env bash
# Session 7, final binary on an H100: the engine's checks on the small random model (head dim
# 64: the VQ cache's wide tiles at batch 1 and 2), memcheck over them, then the decode
# benchmark (FP16 cache vs 2-bit VQ, random weights of SmolLM2's shape) for the README.
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
xz -dc .carry/s7/vecinfer.xz > /tmp/vi && chmod +x /tmp/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout 120 /tmp/vi gpu-check --json $OUT/check-tiny.json > $OUT/check-tiny.txt 2>&1; echo "gpu-check rc $?"
grep -E "PASS|FAIL|passed" $OUT/check-tiny.txt | cut -c1-150
timeout 150 compute-sanitizer --tool memcheck --print-limit 20 /tmp/vi gpu-check > $OUT/memcheck.txt 2>&1; echo "memcheck rc $?"; tail -2 $OUT/memcheck.txt
timeout 250 /tmp/vi decode-bench --random-weights --caches fp16,d4b8/d4b8 --batches 1,4,64 --contexts 8192,131072 --largest-at= \
  --json $OUT/decode-bench.json > $OUT/decode-bench.txt 2>&1; echo "decode-bench rc $?"
grep -E " x |lower|graph step" $OUT/decode-bench.txt | cut -c1-150
