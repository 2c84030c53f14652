#!/usr/bin/env bash
# Session 12: the engine's FP16 cache picks its decode tiling per shape by itself
# (Fp16Tiling::Fastest, the new default). gpu-check on the small model (FP16 checks through
# the chosen tilings), then decode-bench with no flag (each FP16 point's tiling chosen by the
# engine) and with --tune-fp16 off (the old single tiling), both caches.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
xz -dc .carry/s12/vi.xz > /tmp/vi && chmod +x /tmp/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout 200 /tmp/vi gpu-check > $OUT/check-tiny.txt 2>&1; echo "gpu-check rc $?"
grep -cE "^PASS" $OUT/check-tiny.txt; grep -E "^FAIL" $OUT/check-tiny.txt | cut -c1-200
for m in each off; do
  timeout 150 /tmp/vi decode-bench --random-weights --caches fp16,d4b8/d4b8 --batches 1,4 --contexts 8192,131072 --largest-at= --steps 30 \
    --tune-fp16 $m --json $OUT/decode-$m.json > $OUT/decode-$m.txt 2>&1; echo "decode-bench $m rc $?"
  python3 - <<PY
import json
d = json.load(open('$OUT/decode-$m.json'))
for r in d['rows']: print('$m', r['cache'][:20], r['batch'], r['context'], round(r['graph_ms'], 4), r['cache_kernel'][:60])
PY
done
