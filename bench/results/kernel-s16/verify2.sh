#!/usr/bin/env bash
# Session 16, H100: the GPU tests and gpu-check on the session's last binaries (the learned
# key rotation touched the runtime's cache spec, which refuses such codebooks).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s16; R=/tmp/r; mkdir -p $R
for b in vi gpu_attention gpu_paged gpu_append gpu_tuner; do xz -dc $S/$b.xz > $R/$b && chmod +x $R/$b; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for t in gpu_attention gpu_paged gpu_append gpu_tuner; do
  VECINFER_REQUIRE_GPU=1 timeout 200 $R/$t --include-ignored --test-threads 1 > $OUT/$t.log 2>&1; echo "$t rc $?: $(grep -E '^test result' $OUT/$t.log)"
done
timeout 120 $R/vi gpu-check > $OUT/check.txt 2>&1; echo "gpu-check rc $?: $(grep -cE '^PASS' $OUT/check.txt) PASS"; grep -E "^FAIL" $OUT/check.txt | cut -c1-200
tar czf $OUT/logs.tgz -C $OUT gpu_attention.log gpu_paged.log gpu_append.log gpu_tuner.log check.txt && rm $OUT/gpu_*.log $OUT/check.txt
