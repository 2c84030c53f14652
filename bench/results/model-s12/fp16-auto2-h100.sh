#!/usr/bin/env bash
# Session 12, after the review of the FP16 per-shape tiling (3% margin, timings kept, gpu-check
# over every tiling): gpu-check on the small model, then FP16 steps at 1 x 8192 and 1 x 131072
# with the engine's choice (the JSON's fp16_tilings_per_shape holds every timing).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
xz -dc .carry/s12/vi.xz > /tmp/vi && chmod +x /tmp/vi
timeout 80 /tmp/vi gpu-check > $OUT/check-tiny.txt 2>&1; echo "gpu-check rc $?"
grep -cE "^PASS" $OUT/check-tiny.txt; grep -E "^FAIL|fp16 decode" $OUT/check-tiny.txt | cut -c1-300
timeout 40 /tmp/vi decode-bench --random-weights --caches fp16 --batches 1 --contexts 8192,131072 --largest-at= --steps 20 \
  --json $OUT/decode.json > $OUT/decode.txt 2>&1; echo "decode-bench rc $?"
grep -E "^fp16 .* x " $OUT/decode.txt | cut -c1-120
python3 -c "
import json; d=json.load(open('$OUT/decode.json'))
for t in d['fp16_tilings_per_shape']: print(t['batch'], t['capacity'], t['taken']['decode_warps'], t['taken']['decode_unroll'], len(t['timed_ms']))
"
