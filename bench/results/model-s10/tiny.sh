#!/usr/bin/env bash
# Session 10: the small-model gpu-check (all kernel families, tuned configs resolution) with
# the same binary; run in the first real-model call.
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
xz -dc .carry/s10/vi.xz > /tmp/vi && chmod +x /tmp/vi
timeout 200 /tmp/vi gpu-check --json $OUT/check-tiny.json > $OUT/check-tiny.txt 2>&1; echo "gpu-check tiny rc $?"
grep -E "PASS|FAIL" $OUT/check-tiny.txt | cut -c1-200
