#!/usr/bin/env bash
# Session 11, after tune-grid2.sh on the same machine (its file in /tmp/g): the batch-1 keys at
# 32k and 128k tuned again with 100 timed runs per candidate (tune-engine-h100 picked r16 at
# 1 x 128k, tune-grid-h100 r8 from 20 runs), into a copy of that file; decode steps at 1
# sequence with each file and the FP16 cache, two rounds.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
xz -dc .carry/s11/vi.xz > /tmp/vi && chmod +x /tmp/vi
R=/tmp/g; cp $R/engine-tuned.json $R/engine-tuned-b1.json
timeout 300 /tmp/vi tune --shapes 1x32768,1x131072 --codecs d4b8/d4b8 --heads 9 --kv-heads 3 --head-dim 64 \
  --layouts paged64 --strategy exhaustive --runs 100 --retune --file $R/engine-tuned-b1.json --table $OUT/table-b1.md > $R/tune-b1.log 2>&1; echo "tune rc $?"
grep "_b1_" $OUT/table-b1.md | cut -c1-200
G="--random-weights --largest-at= --steps 30 --batches 1 --contexts 32768,131072"
for round in 1 2; do
  for t in b1 grid; do
    if [ $t = b1 ]; then F=$R/engine-tuned-b1.json; else F=$R/engine-tuned.json; fi
    VECINFER_TUNED_CONFIGS=$F timeout 100 /tmp/vi decode-bench $G --caches d4b8/d4b8 --json $R/b1-$t-$round.json > /dev/null 2>&1 || echo "$t failed"
  done
  timeout 100 /tmp/vi decode-bench $G --caches fp16 --json $R/b1-fp16-$round.json > /dev/null 2>&1
done
python3 - <<PY | tee $OUT/summary-b1.txt
import json, glob
for f in sorted(glob.glob('$R/b1-*.json')):
    d = json.load(open(f)); rows = d['rows'] if isinstance(d, dict) else d
    for r in rows: print(f.split('/')[-1], r['context'], round(r['graph_ms'], 4), r['cache_kernel'].split('paged64, ')[-1][:90])
PY
cp $R/engine-tuned-b1.json $OUT/
