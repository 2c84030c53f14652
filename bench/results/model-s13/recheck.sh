#!/usr/bin/env bash
# Session 13, after the review fixes (the skinny L2 prefetch by lines, one chunk ahead;
# --tune-fp16 steps re-running the winner): gpu-check and memcheck on the small model, then steps.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
xz -dc .carry/s13x/vi.xz > /tmp/vi && chmod +x /tmp/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout 80 /tmp/vi gpu-check > $OUT/check-tiny.txt 2>&1; echo "gpu-check rc $?: $(grep -cE '^PASS' $OUT/check-tiny.txt) PASS"; grep -E "^FAIL" $OUT/check-tiny.txt | cut -c1-200
CS=$(ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || which compute-sanitizer)
timeout 300 $CS --tool memcheck --print-limit 20 /tmp/vi gpu-check > $OUT/memcheck.txt 2>&1; echo "memcheck rc $?: $(grep -E 'ERROR SUMMARY' $OUT/memcheck.txt) $(grep -cE '^PASS' $OUT/memcheck.txt) PASS"
timeout 200 /tmp/vi decode-bench --random-weights --caches fp16,d4b8/d4b8 --batches 1,4 --contexts 8192,131072 --largest-at= --steps 30 \
  --tune-fp16 steps --json $OUT/decode.json > $OUT/decode.txt 2>&1; echo "decode-bench rc $?"
grep -E "^(fp16|vecinfer).* x |lower" $OUT/decode.txt | cut -c1-150
