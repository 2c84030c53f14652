#!/usr/bin/env bash
# Session 6, after the FP16 decode attention took the parallel split merge: the engine's GPU
# checks on the small random model (FP16 decode attention vs f64, logits and perplexity vs the
# CPU pass), then the decode benchmark again, FP16 cache vs 2-bit VQ (random weights).
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
xz -dc .carry/m7/vecinfer.xz > /tmp/vi && chmod +x /tmp/vi
timeout 100 /tmp/vi gpu-check --json $OUT/check-tiny.json > $OUT/check-tiny.txt 2>&1; echo "gpu-check rc $?"; grep -E "PASS|FAIL|passed" $OUT/check-tiny.txt | cut -c1-160
timeout 200 /tmp/vi decode-bench --random-weights --caches fp16,d4b8/d4b8 --batches 1,64 --contexts 8192,131072 --largest-at "" \
  --json $OUT/decode-bench.json > $OUT/decode-bench.txt 2>&1; echo "decode-bench rc $?"
grep -E "graph step|x limit|^\s*(fp16|vecinfer)\s+[0-9]" $OUT/decode-bench.txt | cut -c1-150
