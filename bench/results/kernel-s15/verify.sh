#!/usr/bin/env bash
# Session 15, H100, the final binaries (the default's bound of 3, the pruning of unreachable
# bounds, guided moves off a bound): the GPU tests with the shipped files in place, gpu-check,
# and the untuned default kernel in `bench` (verified against the CPU reference, then timed).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s15f; R=/tmp/r; mkdir -p $R
for b in vi gpu_attention gpu_paged gpu_append gpu_tuner; do xz -dc $S/$b.xz > $R/$b && chmod +x $R/$b; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for t in gpu_attention gpu_paged gpu_append gpu_tuner; do
  VECINFER_REQUIRE_GPU=1 timeout 200 $R/$t --include-ignored --test-threads 1 > $OUT/$t.log 2>&1; echo "$t rc $?: $(grep -E '^test result' $OUT/$t.log)"
done
timeout 120 $R/vi gpu-check > $OUT/check.txt 2>&1; echo "gpu-check rc $?: $(grep -cE '^PASS' $OUT/check.txt) PASS"; grep -E "^FAIL" $OUT/check.txt | cut -c1-200
timeout 120 $R/vi bench --codecs d4b8/d4b8 --shapes 1x32768,8x32768,64x8192,128x4096 --min-blocks 0,3 --json $OUT/bench-default.json > $OUT/bench-default.txt 2>&1; echo "bench rc $?"
grep -E "mma|error|refused" $OUT/bench-default.txt | cut -c1-180 | head -20
