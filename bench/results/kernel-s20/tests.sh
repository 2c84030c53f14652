#!/usr/bin/env bash
# Session 20, H100: the GPU tests and gpu-check on the final binaries (.carry/s20t: the packed
# query parts on top of no_allocate).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s20t; R=/tmp/r; mkdir -p $R
for b in vi-new gpu_attention gpu_paged gpu_tuner; do xz -dc $S/$b.xz > $R/$b; done; chmod +x $R/*
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for t in gpu_attention gpu_paged gpu_tuner; do
  VECINFER_REQUIRE_GPU=1 timeout 200 $R/$t --include-ignored --test-threads 1 > $OUT/$t.log 2>&1; echo "$t rc $?: $(grep -E '^test result' $OUT/$t.log)"
done
grep -E "worst rel err: one part" $OUT/gpu_attention.log
timeout 120 $R/vi-new gpu-check > $OUT/check.txt 2>&1; echo "gpu-check rc $?: $(grep -cE '^PASS' $OUT/check.txt) PASS"; grep -E "^FAIL" $OUT/check.txt | cut -c1-200
tar czf $OUT/tests.tgz -C $OUT $(cd $OUT && ls *.txt *.log) && (cd $OUT && rm -f *.txt *.log)
