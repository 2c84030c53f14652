#!/usr/bin/env bash
# Session 30, H200: after the review, gpu_attention (the planned-launch test with lengths that
# end on a split boundary), gpu_tuner on the re-stamped file and gpu-check, on the final build.
# Carry .carry/s30f.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc
R=/tmp/r; mkdir -p $R /work/main/tuned-configs
xz -dc .carry/s30f/nvidia-h200.json.xz > /work/main/tuned-configs/nvidia-h200.json
for b in gpu_attention gpu_tuner vi; do xz -dc .carry/s30f/$b.xz > $R/$b; done; chmod +x $R/*
for t in gpu_attention gpu_tuner; do
  s=$(date +%s)
  VECINFER_REQUIRE_GPU=1 timeout 200 $R/$t --include-ignored --test-threads 1 --nocapture > $OUT/$t.log 2>&1
  echo "$t rc $? $(( $(date +%s) - s )) s: $(grep -E '^test result' $OUT/$t.log)"
  grep -E "FAILED|panicked" $OUT/$t.log | head -5
done
grep -E " planned " $OUT/gpu_attention.log | sed -E 's/^.*_(direct|mb3|deq|f16)/\1/' | cut -c1-120
timeout 120 $R/vi gpu-check > $OUT/check.txt 2>&1; echo "gpu-check rc $?: $(grep -cE '^PASS' $OUT/check.txt) PASS"; grep -E "^FAIL" $OUT/check.txt | cut -c1-200
