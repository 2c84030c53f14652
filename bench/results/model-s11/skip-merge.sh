#!/usr/bin/env bash
# Session 11, H100, an upper bound (not a result to use: the outputs are wrong): the step with
# the VQ attention's split merge not launched at all (a throwaway binary built with
# VECINFER_TIMING_SKIP_MERGE honoured, not committed). What fusing the merge into the output
# projection could save at most, against the same binary with the merge.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
xz -dc .carry/s11e/vi-skip.xz > /tmp/vis && chmod +x /tmp/vis
G="--random-weights --largest-at= --steps 30 --caches d4b8/d4b8 --batches 1,4 --contexts 8192,131072"
for round in 1 2; do
  timeout 100 /tmp/vis decode-bench $G --json /tmp/m-$round.json > /dev/null 2>&1
  VECINFER_TIMING_SKIP_MERGE=1 timeout 100 /tmp/vis decode-bench $G --json /tmp/s-$round.json > /dev/null 2>&1
done
python3 - <<PY | tee $OUT/summary.txt
import json
for w in ['m','s']:
    for round in [1,2]:
        d = json.load(open(f'/tmp/{w}-{round}.json')); rows = d['rows'] if isinstance(d, dict) else d
        for r in rows: print('merge' if w == 'm' else 'no-merge', r['batch'], r['context'], f"{r['graph_ms']:.4f}")
PY
