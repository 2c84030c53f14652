#!/usr/bin/env bash
# Session 29, H200: the GPU tests and gpu-check on the fp16_split change (carry .carry/s29k with
# vi-new.xz and .carry/s29t: the test binaries, the re-stamped H200 file, which gpu_tuner reads
# from the path the build baked in).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc
R=/tmp/r; mkdir -p $R /work/main/tuned-configs; cp .carry/s29t/nvidia-h200.json /work/main/tuned-configs/
for b in gpu_attention gpu_paged gpu_tuner gpu_model; do xz -dc .carry/s29t/$b.xz > $R/$b; done
xz -dc .carry/s29k/vi-new.xz > $R/vi-new; chmod +x $R/*
for t in gpu_attention gpu_paged gpu_tuner gpu_model; do
  VECINFER_REQUIRE_GPU=1 timeout 240 $R/$t --include-ignored --test-threads 1 > $OUT/$t.log 2>&1; echo "$t rc $?: $(grep -E '^test result' $OUT/$t.log)"
  grep -E "FAILED|panicked" $OUT/$t.log | head -5
done
timeout 120 $R/vi-new gpu-check > $OUT/check.txt 2>&1; echo "gpu-check rc $?: $(grep -cE '^PASS' $OUT/check.txt) PASS"; grep -E "^FAIL" $OUT/check.txt | cut -c1-200
