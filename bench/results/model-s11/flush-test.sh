#!/usr/bin/env bash
# Session 11, after the review fixes: the runtime GPU tests of the paged cache, with the new
# test that the window flush leaves the per-layer append's bytes (both flush versions, head
# dims 64 and 128, per-head books, each key transform, 11 sequences), and gpu-check on the
# small model with the final binary. Run again after the flush kernel was split into named helpers
# (flush-test2-*).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
for b in gpu_paged vi; do xz -dc .carry/s11g/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
VECINFER_REQUIRE_GPU=1 timeout 200 /tmp/gpu_paged --include-ignored --test-threads 1 --nocapture > $OUT/gpu-paged.log 2>&1; echo "gpu_paged rc $?"
grep -E "^test |test result|identical|panicked" $OUT/gpu-paged.log | cut -c1-200
timeout 150 /tmp/vi gpu-check > $OUT/check-tiny.txt 2>&1; echo "gpu-check rc $?"
grep -E "checks passed|FAIL" $OUT/check-tiny.txt
