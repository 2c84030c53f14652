#!/usr/bin/env bash
# Session 11: tune the engine's own VQ kernel keys (SmolLM2's shape, 2-bit d4b8, paged64: the
# layout the engine runs) over the batches and contexts a decode step meets, exhaustive, then
# decode steps with that file against the heuristic (random weights, graph, two rounds,
# alternating), with the FP16 cache at 1 sequence in the same rounds for the 1 x 128k ratio.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
xz -dc .carry/s11/vi.xz > /tmp/vi && chmod +x /tmp/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
R=/tmp/g; mkdir -p $R
SHAPES=1x2048,1x8192,1x32768,1x131072,4x2048,4x8192,4x32768,4x131072,16x8192,16x32768,64x8192,64x32768,256x8192
timeout 500 /tmp/vi tune --shapes $SHAPES --codecs d4b8/d4b8 --heads 9 --kv-heads 3 --head-dim 64 \
  --layouts paged64 --strategy exhaustive --file $R/engine-tuned.json --table $OUT/table.md > $R/tune.log 2>&1; echo "tune rc $?"
cut -c1-200 $OUT/table.md
G="--random-weights --largest-at= --steps 20"
for round in 1 2; do
  for t in tuned heuristic; do
    if [ $t = tuned ]; then export VECINFER_TUNED_CONFIGS=$R/engine-tuned.json; else export VECINFER_TUNED_CONFIGS=off; fi
    timeout 200 /tmp/vi decode-bench $G --caches d4b8/d4b8 --batches 1,4,16,64 --contexts 8192,32768,131072 --json $R/decode-$t-$round.json > $R/decode-$t-$round.txt 2>&1 || echo "decode $t $round failed"
  done
  unset VECINFER_TUNED_CONFIGS
  timeout 100 /tmp/vi decode-bench $G --caches fp16 --batches 1 --contexts 8192,131072 --json $R/decode-fp16-$round.json > $R/decode-fp16-$round.txt 2>&1 || echo "fp16 $round failed"
done
python3 - <<PY > $OUT/summary.txt
import json, glob, collections
t = collections.defaultdict(list); k = {}
for f in sorted(glob.glob('$R/decode-*.json')):
    w = 'fp16' if 'fp16' in f else ('tuned' if 'tuned' in f else 'heuristic')
    d = json.load(open(f)); rows = d['rows'] if isinstance(d, dict) else d
    for r in rows:
        key = (r['batch'], r['context'], w)
        t[key].append(r['graph_ms']); k[key] = r['cache_kernel'].split('paged64, ')[-1][:110]
print('batch context config graph_ms (each round) kernel')
for key in sorted(t): print(*key, ' '.join(f'{x:.4f}' for x in t[key]), k[key])
PY
cat $OUT/summary.txt
cp $R/engine-tuned.json $OUT/
cd $R && tar czf $OUT/runs.tgz *.log *.txt *.json
