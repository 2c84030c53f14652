#!/usr/bin/env bash
# Session 11, H100: does a config tuned on the engine's own layout (paged64) and SmolLM2's shape
# at 1 and 4 sequences beat the engine's heuristic in the whole step? Exhaustive tune of those
# keys (kernel alone), then decode steps with that file against the heuristic (2-bit, random
# weights), alternating, two rounds.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
xz -dc .carry/s11/vi.xz > /tmp/vi && chmod +x /tmp/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
R=/tmp/r; mkdir -p $R
timeout 420 /tmp/vi tune --shapes 1x8192,1x131072,4x8192,4x131072 --codecs d4b8/d4b8 --heads 9 --kv-heads 3 --head-dim 64 \
  --layouts paged64 --strategy exhaustive --file $R/engine-tuned.json --table $OUT/table.md > $R/tune.log 2>&1; echo "tune rc $?"
cat $OUT/table.md | cut -c1-220
G="--random-weights --caches d4b8/d4b8 --largest-at= --steps 20 --batches 1,4 --contexts 8192,131072"
for round in 1 2; do
  for t in tuned heuristic; do
    if [ $t = tuned ]; then export VECINFER_TUNED_CONFIGS=$R/engine-tuned.json; else export VECINFER_TUNED_CONFIGS=off; fi
    timeout 150 /tmp/vi decode-bench $G --json $R/decode-$t-$round.json > $R/decode-$t-$round.txt 2>&1 || echo "decode $t $round failed"
  done
done
python3 - <<PY > $OUT/summary.txt
import json, glob, collections
t = collections.defaultdict(list); k = {}
for f in sorted(glob.glob('$R/decode-*.json')):
    w = 'tuned' if 'tuned' in f else 'heuristic'
    d = json.load(open(f)); rows = d['rows'] if isinstance(d, dict) else d
    for r in rows:
        t[(r['batch'], r['context'], w)].append(r['graph_ms']); k[(r['batch'], r['context'], w)] = r['cache_kernel'].split('paged64, ')[-1][:120]
print('batch context config graph_ms (each round) kernel')
for key in sorted(t): print(*key, ' '.join(f'{x:.4f}' for x in t[key]), k[key])
PY
cat $OUT/summary.txt
cp $R/engine-tuned.json $OUT/
cd $R && tar czf $OUT/runs.tgz *.log *.txt *.json
