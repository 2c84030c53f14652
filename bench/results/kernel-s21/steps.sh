#!/usr/bin/env bash
# Session 21, H200: whole decode steps (SmolLM2 shape, random weights, paged 2-bit cache) with
# the re-tuned H200 file against the file before it (session 15's winners, re-stamped), two
# interleaved rounds, the FP16 cache beside them once. Binary: .carry/s21b/vi.xz (614364a).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
R=/tmp/r; mkdir -p $R; xz -dc .carry/s21b/vi.xz > $R/vi; chmod +x $R/vi
xz -dc .carry/s21b/h200-before.json.xz > $R/before.json; cp tuned-configs/nvidia-h200.json $R/after.json
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
ARGS="--random-weights --batches 1,16,64 --contexts 8192,32768 --largest-at= --steps 30"
VECINFER_TUNED_CONFIGS=$R/after.json timeout 150 $R/vi decode-bench $ARGS --caches fp16 --tune-fp16 steps > $OUT/fp16.txt 2>&1; echo "fp16 rc $?"
for round in 1 2; do for f in before after; do
  VECINFER_TUNED_CONFIGS=$R/$f.json timeout 150 $R/vi decode-bench $ARGS --caches d4b8/d4b8 --json $OUT/$f-$round.json > $OUT/$f-$round.txt 2>&1
  echo "$f round $round rc $?"; grep -E "^vecinfer|^fp16| x " $OUT/$f-$round.txt | head -8 | cut -c1-160
done; done
grep -E " x |^fp16" $OUT/fp16.txt | head -8 | cut -c1-160
tar czf $OUT/steps.tgz -C $OUT $(cd $OUT && ls *.txt *.json) && (cd $OUT && rm -f *.txt *.json)
