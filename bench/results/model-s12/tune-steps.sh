#!/usr/bin/env bash
# Session 12: `vecinfer tune-steps` on a copy of the shipped H100 file, the engine's SmolLM2
# 2-bit keys at 1 and 4 sequences (8 keys; the 12 fastest alone each, 3 rounds), then decode
# steps with the shipped file and the re-ranked one, alternating, FP16 beside, same command.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
xz -dc .carry/s12/vi.xz > /tmp/vi && chmod +x /tmp/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
cp tuned-configs/nvidia-h100-80gb-hbm3.json /tmp/h100.json
start=$(date +%s)
timeout 420 /tmp/vi tune-steps --file /tmp/h100.json --batches 1,4 --top 12 --rounds 3 > $OUT/tune-steps.txt 2> $OUT/tune-steps.err; echo "tune-steps rc $? in $(( $(date +%s) - start )) s"
grep -E "winner|^d64" $OUT/tune-steps.txt
G="--random-weights --largest-at= --steps 30 --batches 1,4 --contexts 8192,32768,131072"
R=/tmp/r; mkdir -p $R
for round in 1 2; do
  for f in shipped ranked; do
    if [ $f = shipped ]; then export VECINFER_TUNED_CONFIGS=tuned-configs; else export VECINFER_TUNED_CONFIGS=/tmp/h100.json; fi
    timeout 60 /tmp/vi decode-bench $G --caches d4b8/d4b8 --json $R/$f-$round.json > $R/$f-$round.txt 2>&1 || echo "$f $round failed"
  done
  timeout 60 /tmp/vi decode-bench $G --caches fp16 --json $R/fp16-$round.json > $R/fp16-$round.txt 2>&1 || echo "fp16 $round failed"
done
python3 - <<PY > $OUT/summary.txt
import json, glob, collections
t = collections.defaultdict(list)
for f in sorted(glob.glob('$R/*.json')):
    w = f.split('/')[-1].rsplit('-', 1)[0]
    d = json.load(open(f)); rows = d['rows'] if isinstance(d, dict) else d
    for r in rows: t[(r['batch'], r['context'], w)].append(r['graph_ms'])
print('batch context file graph_ms (each round)')
for k in sorted(t): print(*k, ' '.join(f'{x:.4f}' for x in t[k]))
PY
cat $OUT/summary.txt
gzip -c /tmp/h100.json > $OUT/h100-ranked.json.gz
cd $R && tar czf $OUT/runs.tgz .
