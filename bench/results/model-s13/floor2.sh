#!/usr/bin/env bash
# Session 13, H100, after the skinny projections went to 3 blocks per SM: where the batch-1
# step goes now, launch by launch (floor.sh with the landed code and the throwaway skip.diff on
# top, not committed: VECINFER_SKIP leaves the named launches out; outputs wrong, timing only).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
xz -dc .carry/s13/vi-skip2.xz > /tmp/vi && chmod +x /tmp/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for round in 1 2; do
for skip in none merge attn qkv oproj gateup down flush "qkv,attn,oproj,gateup" "qkv,attn,oproj,gateup,down" "attn,oproj,gateup,down"; do
  VECINFER_SKIP=$skip timeout 60 /tmp/vi decode-bench --random-weights --caches fp16,d4b8/d4b8 --batches 1 --contexts 2048,131072 \
    --largest-at= --steps 30 --json $OUT/floor-r$round-$(echo $skip | tr , +).json > $OUT/floor-r$round-$(echo $skip | tr , +).txt 2>&1
  echo "round $round skip $skip rc $?: $(grep -E '^(fp16|vecinfer) .* x ' $OUT/floor-r$round-$(echo $skip | tr , +).txt | sed -E 's/.*x +([0-9]+): eager ([0-9.]+) ms, graph ([0-9.]+) ms.*/\1:\3/' | tr '\n' ' ')"
done
done
cd $OUT && tar czf floor.tgz floor-* && rm -f floor-*
