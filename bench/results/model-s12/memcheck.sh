#!/usr/bin/env bash
# Session 12, after the review fixes: compute-sanitizer memcheck over gpu-check on the small
# model (the skinny kernels' early reads and prefetches included), then tune-steps on one key of
# a copy of the shipped file (the new checks: top and left_out, the whole file's nearest key).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
xz -dc .carry/s12/vi.xz > /tmp/vi && chmod +x /tmp/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
CS=$(ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || which compute-sanitizer)
timeout 400 $CS --tool memcheck --print-limit 20 /tmp/vi gpu-check > $OUT/memcheck.txt 2>&1; echo "memcheck rc $?"
grep -E "ERROR SUMMARY" $OUT/memcheck.txt; grep -cE "^PASS" $OUT/memcheck.txt; grep -E "^FAIL" $OUT/memcheck.txt | cut -c1-200
F=$(ls tuned-configs | grep -i "$(nvidia-smi --query-gpu=name --format=csv,noheader | awk '{print tolower($2)}')" | head -1)
cp tuned-configs/$F /tmp/t.json
timeout 100 /tmp/vi tune-steps --file /tmp/t.json --batches 1 --contexts 8192 --top 4 --rounds 2 > $OUT/tune-steps.txt 2>&1; echo "tune-steps rc $?"
cat $OUT/tune-steps.txt | cut -c1-160
