#!/usr/bin/env bash
# Session 30, H200: the GPU tests and gpu-check on the fp16 tokens given to the last split
# (splits - 1). Carry .carry/s30: vi-new.xz, the test binaries, the re-stamped H200 file (which
# gpu_tuner reads from the path the build baked in, /work/main/tuned-configs).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc
R=/tmp/r; mkdir -p $R /work/main/tuned-configs
xz -dc .carry/s30/nvidia-h200.json.xz > /work/main/tuned-configs/nvidia-h200.json
for b in gpu_attention gpu_paged gpu_tuner gpu_model vi-new vi-old; do xz -dc .carry/s30/$b.xz > $R/$b; done; chmod +x $R/*
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for t in gpu_attention gpu_paged gpu_tuner gpu_model; do
  s=$(date +%s)
  VECINFER_REQUIRE_GPU=1 timeout 240 $R/$t --include-ignored --test-threads 1 > $OUT/$t.log 2>&1
  echo "$t rc $? $(( $(date +%s) - s )) s: $(grep -E '^test result' $OUT/$t.log)"
  grep -E "FAILED|panicked" $OUT/$t.log | head -5
done
grep -E "planned" $OUT/gpu_attention.log | cut -c1-170
timeout 120 $R/vi-new gpu-check > $OUT/check.txt 2>&1; echo "gpu-check rc $?: $(grep -cE '^PASS' $OUT/check.txt) PASS"; grep -E "^FAIL" $OUT/check.txt | cut -c1-200
