#!/usr/bin/env bash
# Session 22, H200, call 9: the GPU tests on the binaries after the review's fixes (engine byte
# accounting, scale region padded to whole words, VqFlush refusing int8), and decode-bench with
# an int8 window of an odd slot count (4 + 61: random fills need whole 32-bit words).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
R=/root/s22; mkdir -p $R; for b in vi gpu_attention gpu_append gpu_paged gpu_model; do xz -dc .carry/s22/$b.xz > $R/$b; done; chmod +x $R/*
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for t in gpu_attention gpu_append gpu_paged; do
  VECINFER_REQUIRE_GPU=1 timeout 240 $R/$t --include-ignored --test-threads 1 > $OUT/$t.log 2>&1; echo "$t rc $?: $(grep -E '^test result' $OUT/$t.log)"
done
VECINFER_REQUIRE_GPU=1 timeout 200 $R/gpu_model --ignored tiny --test-threads 1 --nocapture > $OUT/gpu_model.log 2>&1; echo "gpu_model tiny rc $?: $(grep -E '^test result' $OUT/gpu_model.log)"; grep -E "int8 window" $OUT/gpu_model.log | head -1 | cut -c1-300
timeout 120 $R/vi decode-bench --random-weights --caches d4b8/d4b8 --batches 1 --contexts 8192 --largest-at "" --sinks 4 --residual 61 --window int8 > $OUT/steps-odd.txt 2>&1; echo "decode-bench odd int8 rc $?: $(grep -E "^vecinfer d4b8/d4b8.* x " $OUT/steps-odd.txt | head -1 | cut -c1-150)"
tar czf $OUT/final3.tgz -C $OUT $(cd $OUT && ls *.txt *.log) && (cd $OUT && rm -f *.txt *.log)
