#!/usr/bin/env bash
# Session 13: is the split merge's cost its chain of L2 round trips? A throwaway binary
# (merge-unroll.diff: the merge's split loop unrolled 16 instead of 4, so a thread's loads of
# up to 16 splits go out at once) against the landed one. The FP16 cache only (the VQ cache's
# merge is in its fingerprinted module: the throwaway's tuned files would not load), its
# default tiling (w4 u4, --tune-fp16 off) both sides; graph ms, interleaved rounds.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
for b in vi vi-merge16; do xz -dc .carry/s13/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout 80 /tmp/vi-merge16 gpu-check > $OUT/check-merge16.txt 2>&1; echo "gpu-check merge16 rc $?: $(grep -cE '^PASS' $OUT/check-merge16.txt) PASS"
for round in 1 2; do
for b in vi vi-merge16; do
  timeout 60 /tmp/$b decode-bench --random-weights --caches fp16 --batches 1,4 --contexts 8192,131072 --largest-at= --steps 30 --tune-fp16 off > $OUT/$b-r$round.txt 2>&1
  echo "round $round $b rc $?: $(grep -E '^fp16 .* x ' $OUT/$b-r$round.txt | sed -E 's/^fp16.* ([0-9]+) x +([0-9]+): eager ([0-9.]+) ms, graph ([0-9.]+) ms.*/\1x\2:\4/' | tr '\n' ' ')"
done
done
cd $OUT && tar czf merge.tgz vi* check-* && rm -f vi* check-*
