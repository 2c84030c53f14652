#!/usr/bin/env bash
# Session 12: the skinny projections ask for their epilogues' operands (positions, RoPE angles,
# slot table, the residual) right after their wait, the norm weights before it, and load a
# row's RMS values at once (.carry/s12/vi-b; vi-a: the same commit before that change). Checks
# with vi-b (gpu-check on the small model), then decode steps of both binaries, alternating,
# both caches, with the step-ranked H100 file now in tuned-configs/.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
for b in a b; do xz -dc .carry/s12/vi-$b.xz > /tmp/vi-$b && chmod +x /tmp/vi-$b; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout 200 /tmp/vi-b gpu-check --json $OUT/check-tiny.json > $OUT/check-tiny.txt 2>&1; echo "gpu-check rc $?"
grep -cE "^PASS" $OUT/check-tiny.txt; grep -E "^FAIL" $OUT/check-tiny.txt | cut -c1-200
R=/tmp/r; mkdir -p $R
G="--random-weights --largest-at= --steps 30"
for round in 1 2 3; do
  for b in a b; do
    timeout 60 /tmp/vi-$b decode-bench $G --caches fp16,d4b8/d4b8 --batches 1,4 --contexts 8192,131072 --json $R/$b-$round.json > $R/$b-$round.txt 2>&1 || echo "$b $round failed"
  done
done
for b in a b; do
  timeout 60 /tmp/vi-$b decode-bench $G --caches fp16,d4b8/d4b8 --batches 64 --contexts 8192 --json $R/$b-b64.json > $R/$b-b64.txt 2>&1 || echo "$b b64 failed"
done
python3 - <<PY > $OUT/summary.txt
import json, glob, collections
t = collections.defaultdict(list)
for f in sorted(glob.glob('$R/*.json')):
    b = f.split('/')[-1].split('-')[0]
    d = json.load(open(f)); rows = d['rows'] if isinstance(d, dict) else d
    for r in rows: t[(r['cache'], r['batch'], r['context'], b)].append(r['graph_ms'])
print('cache batch context binary graph_ms (each round)')
for k in sorted(t): print(*k, ' '.join(f'{x:.4f}' for x in t[k]))
PY
cat $OUT/summary.txt
cd $R && tar czf $OUT/runs.tgz .
