#!/usr/bin/env bash
# Session 12, experiment: the fused attention asks L2 for its split's code pages before its
# wait (VECINFER_EXP_L2_PREFETCH=ROWS, a throwaway switch read when the kernel is emitted:
# rows prefetched per block, from the split's first). Checks with it on (gpu-check on the small
# model), then decode steps off / all rows / 1024 rows, alternating rounds, both caches.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
xz -dc .carry/s12/vi.xz > /tmp/vi && chmod +x /tmp/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
VECINFER_EXP_L2_PREFETCH=1000000 timeout 200 /tmp/vi gpu-check --json $OUT/check-tiny.json > $OUT/check-tiny.txt 2>&1; echo "gpu-check rc $?"
grep -E "PASS|FAIL" $OUT/check-tiny.txt | cut -c1-200
R=/tmp/r; mkdir -p $R
G="--random-weights --largest-at= --steps 20"
for round in 1 2; do
  for pf in off all 1024; do
    case $pf in off) unset VECINFER_EXP_L2_PREFETCH;; all) export VECINFER_EXP_L2_PREFETCH=1000000;; *) export VECINFER_EXP_L2_PREFETCH=$pf;; esac
    timeout 150 /tmp/vi decode-bench $G --caches d4b8/d4b8 --batches 1,4 --contexts 8192,32768,131072 --json $R/small-$pf-$round.json > $R/small-$pf-$round.txt 2>&1 || echo "small $pf $round failed"
    timeout 100 /tmp/vi decode-bench $G --caches d4b8/d4b8 --batches 64 --contexts 8192 --json $R/b64-$pf-$round.json > $R/b64-$pf-$round.txt 2>&1 || echo "64 $pf $round failed"
  done
  unset VECINFER_EXP_L2_PREFETCH
  timeout 100 /tmp/vi decode-bench $G --caches fp16 --batches 1 --contexts 8192,131072 --json $R/fp16-$round.json > $R/fp16-$round.txt 2>&1 || echo "fp16 $round failed"
done
python3 - <<PY > $OUT/summary.txt
import json, glob, collections, re
t = collections.defaultdict(list)
for f in sorted(glob.glob('$R/*.json')):
    pf = f.split('/')[-1].split('-')[1] if not 'fp16' in f else '-'
    d = json.load(open(f)); rows = d['rows'] if isinstance(d, dict) else d
    for r in rows: t[(r['cache'], r['batch'], r['context'], pf)].append(r['graph_ms'])
print('cache batch context prefetch graph_ms (each round)')
for k in sorted(t, key=str): print(*k, ' '.join(f'{x:.4f}' for x in t[k]))
PY
cat $OUT/summary.txt
cd $R && tar czf $OUT/runs.tgz .
