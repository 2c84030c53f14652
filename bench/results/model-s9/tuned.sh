#!/usr/bin/env bash
# Session 9, H100: the engine's VQ cache takes this GPU's nearest tuned config from
# tuned-configs/ (VECINFER_TUNED_CONFIGS=off: the default heuristic, as before). gpu-check on
# the small model (its VQ checks have SmolLM2's kernel shape, so they run tuned configs), then
# whole-model decode steps (random weights, SmolLM2's shape, 2-bit) tuned and not.
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
xz -dc .carry/s9t/vi.xz > /tmp/vi && chmod +x /tmp/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout 150 /tmp/vi gpu-check --json $OUT/check-tiny.json > $OUT/check-tiny.txt 2>&1; echo "gpu-check rc $?"
grep -E "PASS|FAIL" $OUT/check-tiny.txt | cut -c1-200
G="--random-weights --caches d4b8/d4b8 --batches 1,4,8,16,64 --contexts 8192,32768 --largest-at="
for t in on off; do
  if [ $t = off ]; then export VECINFER_TUNED_CONFIGS=off; fi
  timeout 200 /tmp/vi decode-bench $G --json $OUT/decode-tuned-$t.json > $OUT/decode-tuned-$t.txt 2>&1; echo "decode tuned $t rc $?"
  grep -E "^vecinfer .* x " $OUT/decode-tuned-$t.txt | cut -c1-150
done
python3 - <<PY
import json
for t in ['on','off']:
    d=json.load(open(f'$OUT/decode-tuned-{t}.json'))
    rows=d['rows'] if isinstance(d,dict) else d
    for r in rows:
        if r['cache']=='fp16': continue
        print(t, r['batch'], r['context'], r['graph_ms'], r['cache_kernel'].split('paged64, ')[-1][:110])
PY
