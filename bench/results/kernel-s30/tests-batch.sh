#!/usr/bin/env bash
# Session 30, H200: the GPU tests and gpu-check on the batched online merge (the landed build).
# Carry .carry/s30e: vi.xz, the test binaries, the re-stamped H200 file (which gpu_tuner reads
# from the path the build baked in, /work/main/tuned-configs).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc
R=/tmp/r; mkdir -p $R /work/main/tuned-configs
xz -dc .carry/s30e/nvidia-h200.json.xz > /work/main/tuned-configs/nvidia-h200.json
for b in gpu_attention gpu_paged gpu_tuner vi; do xz -dc .carry/s30e/$b.xz > $R/$b; done; chmod +x $R/*
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for t in gpu_attention gpu_paged gpu_tuner; do
  s=$(date +%s)
  VECINFER_REQUIRE_GPU=1 timeout 200 $R/$t --include-ignored --test-threads 1 > $OUT/$t.log 2>&1
  echo "$t rc $? $(( $(date +%s) - s )) s: $(grep -E '^test result' $OUT/$t.log)"
  grep -E "FAILED|panicked" $OUT/$t.log | head -5
done
timeout 120 $R/vi gpu-check > $OUT/check.txt 2>&1; echo "gpu-check rc $?: $(grep -cE '^PASS' $OUT/check.txt) PASS"; grep -E "^FAIL" $OUT/check.txt | cut -c1-200
