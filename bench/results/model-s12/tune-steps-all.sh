#!/usr/bin/env bash
# Session 12: `vecinfer tune-steps` over all 15 engine keys (SmolLM2 2-bit, paged64) of a copy
# of the shipped file of this GPU (12 fastest alone each, 3 rounds), then decode steps with the
# shipped file and the re-ranked one, alternating (two rounds), the FP16 cache beside.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
xz -dc .carry/s12/vi.xz > /tmp/vi && chmod +x /tmp/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
F=$(ls tuned-configs | grep -i "$(nvidia-smi --query-gpu=name --format=csv,noheader | awk '{print tolower($2)}')" | head -1)
echo "file $F"; cp tuned-configs/$F /tmp/ranked.json
start=$(date +%s)
timeout 330 /tmp/vi tune-steps --file /tmp/ranked.json --top 12 --rounds 3 > $OUT/tune-steps.txt 2> $OUT/tune-steps.err; echo "tune-steps rc $? in $(( $(date +%s) - start )) s"
grep -E "winner|^d64|skip" $OUT/tune-steps.txt $OUT/tune-steps.err | sed 's/d64_g3_kd4b8_vd4b8_layer_smooth_hadamard_//g'
gzip -c /tmp/ranked.json > $OUT/ranked.json.gz
R=/tmp/r; mkdir -p $R
for round in 1 2; do
  for f in shipped ranked; do
    if [ $f = shipped ]; then export VECINFER_TUNED_CONFIGS=tuned-configs; else export VECINFER_TUNED_CONFIGS=/tmp/ranked.json; fi
    timeout 60 /tmp/vi decode-bench --random-weights --largest-at= --steps 30 --batches 1,4,16 --contexts 8192,32768,131072 --caches d4b8/d4b8 --json $R/$f-$round.json > $R/$f-$round.txt 2>&1 || echo "$f $round failed"
    timeout 40 /tmp/vi decode-bench --random-weights --largest-at= --steps 20 --batches 64 --contexts 8192 --caches d4b8/d4b8 --json $R/$f-b64-$round.json > $R/$f-b64-$round.txt 2>&1 || echo "$f b64 $round failed"
  done
done
unset VECINFER_TUNED_CONFIGS
timeout 60 /tmp/vi decode-bench --random-weights --largest-at= --steps 30 --batches 1,4 --contexts 8192,32768,131072 --caches fp16 --json $R/fp16-1.json > $R/fp16-1.txt 2>&1 || echo "fp16 failed"
python3 - <<PY > $OUT/summary.txt
import json, glob, collections
t = collections.defaultdict(list)
for f in sorted(glob.glob('$R/*.json')):
    w = f.split('/')[-1].split('-')[0]
    d = json.load(open(f)); rows = d['rows'] if isinstance(d, dict) else d
    for r in rows: t[(r['batch'], r['context'], w)].append(r['graph_ms'])
print('batch context file graph_ms (each round)')
for k in sorted(t): print(*k, ' '.join(f'{x:.4f}' for x in t[k]))
PY
cat $OUT/summary.txt
cd $R && tar czf $OUT/runs.tgz .
