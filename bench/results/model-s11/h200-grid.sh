#!/usr/bin/env bash
# Session 11, H200 (stops at once on another GPU): the engine's SmolLM2 keys tuned on its pages
# (as tune-grid2.sh, exhaustive), decode steps with them against the heuristic, two rounds,
# FP16 at 1 sequence beside, and the final binary's HF-and-largest run.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
G=$(nvidia-smi --query-gpu=name --format=csv,noheader); echo "$G"
case "$G" in *H200*) ;; *) echo "not an H200: nothing run"; exit 0;; esac
xz -dc .carry/s11f/vi.xz > /tmp/vi && chmod +x /tmp/vi
R=/tmp/h; mkdir -p $R; rm -f $R/*
SHAPES=1x2048,1x8192,1x32768,1x131072,4x2048,4x8192,4x32768,4x131072,16x8192,16x32768,16x131072,64x8192,64x32768,64x131072,256x8192
timeout 300 /tmp/vi tune --shapes $SHAPES --codecs d4b8/d4b8 --heads 9 --kv-heads 3 --head-dim 64 \
  --layouts paged64 --strategy exhaustive --runs 40 --file $R/engine-tuned.json --table $OUT/table.md > $R/tune.log 2>&1; echo "tune rc $?"
B="--random-weights --largest-at= --steps 20"
for round in 1 2; do
  for t in tuned heuristic; do
    if [ $t = tuned ]; then export VECINFER_TUNED_CONFIGS=$R/engine-tuned.json; else export VECINFER_TUNED_CONFIGS=off; fi
    timeout 120 /tmp/vi decode-bench $B --caches d4b8/d4b8 --batches 1,4,16,64 --contexts 8192,131072 --json $R/decode-$t-$round.json > /dev/null 2>&1 || echo "decode $t $round failed"
  done
  unset VECINFER_TUNED_CONFIGS
  timeout 60 /tmp/vi decode-bench $B --caches fp16 --batches 1 --contexts 8192,131072 --json $R/decode-fp16-$round.json > /dev/null 2>&1 || echo "fp16 failed"
done
python3 - <<PY > $OUT/summary.txt
import json, glob, collections
t = collections.defaultdict(list)
for f in sorted(glob.glob('$R/decode-*.json')):
    w = 'fp16' if 'fp16' in f else ('tuned' if 'tuned' in f else 'heuristic')
    d = json.load(open(f)); rows = d['rows'] if isinstance(d, dict) else d
    for r in rows: t[(r['batch'], r['context'], w)].append(r['graph_ms'])
print('batch context config graph_ms (each round)')
for k in sorted(t): print(*k, ' '.join(f'{x:.4f}' for x in t[k]))
PY
cat $OUT/summary.txt
gzip -c $R/engine-tuned.json > $OUT/engine-tuned.json.gz
