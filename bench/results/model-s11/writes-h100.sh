#!/usr/bin/env bash
# Session 11, H100: decode steps with the projection's K/V writes (default) against an append
# launch per layer (VECINFER_TOKEN_WRITES=append), random weights of SmolLM2's shape, both
# caches; three rounds alternating the two, so that run-to-run noise shows.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
xz -dc .carry/s11/vi.xz > /tmp/vi && chmod +x /tmp/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
R=/tmp/r; mkdir -p $R
G="--random-weights --caches fp16,d4b8/d4b8 --largest-at= --steps 20"
for round in 1 2 3; do
  for w in projection append; do
    if [ $w = append ]; then export VECINFER_TOKEN_WRITES=append; else unset VECINFER_TOKEN_WRITES; fi
    timeout 150 /tmp/vi decode-bench $G --batches 1,4 --contexts 8192,131072 --json $R/small-$w-$round.json > $R/small-$w-$round.txt 2>&1 || echo "small $w $round failed"
  done
done
unset VECINFER_TOKEN_WRITES
for w in projection append; do
  if [ $w = append ]; then export VECINFER_TOKEN_WRITES=append; else unset VECINFER_TOKEN_WRITES; fi
  timeout 150 /tmp/vi decode-bench $G --batches 64 --contexts 8192 --json $R/b64-$w.json > $R/b64-$w.txt 2>&1 || echo "64 $w failed"
done
python3 - <<PY > $OUT/summary.txt
import json, glob, collections
t = collections.defaultdict(list)
for f in sorted(glob.glob('$R/*.json')):
    w = 'projection' if 'projection' in f else 'append'
    d = json.load(open(f)); rows = d['rows'] if isinstance(d, dict) else d
    for r in rows: t[(r['cache'], r['batch'], r['context'], w)].append(r['graph_ms'])
print('cache batch context writes graph_ms (each round)')
for k in sorted(t): print(*k, ' '.join(f'{x:.4f}' for x in t[k]))
PY
cat $OUT/summary.txt
cd $R && tar czf $OUT/runs.tgz .
