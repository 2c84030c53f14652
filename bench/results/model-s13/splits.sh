#!/usr/bin/env bash
# Session 13: with the skinny projections at 3 blocks per SM, does the VQ attention at batch 1
# gain from fewer splits than one full wave (auto: 86 at 1 x 128k, 258 blocks)? The QKV
# projection's 60 blocks keep 60 SMs from taking a second attention block until it ends, so
# only ~204 of the blocks can start early. A throwaway binary (splits.diff) takes the count
# from VECINFER_SPLITS; graph ms, interleaved rounds.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
xz -dc .carry/s13/vi-splits.xz > /tmp/vi && chmod +x /tmp/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for round in 1 2; do
for n in auto 68 64 56 48 44; do
  if [ $n = auto ]; then unset VECINFER_SPLITS; else export VECINFER_SPLITS=$n; fi
  timeout 60 /tmp/vi decode-bench --random-weights --caches d4b8/d4b8 --batches 1 --contexts 32768,131072 --largest-at= --steps 30 > $OUT/s-$n-r$round.txt 2>&1
  echo "round $round splits $n rc $?: $(grep -E '^vecinfer .* x ' $OUT/s-$n-r$round.txt | sed -E 's/^vecinfer.* ([0-9]+) x +([0-9]+): eager ([0-9.]+) ms, graph ([0-9.]+) ms.*/\1x\2:\4/' | tr '\n' ' ')"
done
done
cd $OUT && tar czf splits.tgz s-* && rm -f s-*
