#!/usr/bin/env bash
# Session 11, H100: at 1 sequence, do fixed split counts beat the automatic one (one wave) with
# the tuned 512-token tiles? The batch-1 keys at 32k and 128k, exhaustive over tiles 256/512,
# 4/8 warps, 8/16 codebook copies and split counts auto, 24 ... 256; then steps with the winners
# (merged over a copy of the shipped file) against the shipped file, and FP16, two rounds.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
xz -dc .carry/s11/vi.xz > /tmp/vi && chmod +x /tmp/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
R=/tmp/s; mkdir -p $R; rm -f $R/*.json
timeout 400 /tmp/vi tune --shapes 1x32768,1x131072 --codecs d4b8/d4b8 --heads 9 --kv-heads 3 --head-dim 64 \
  --layouts paged64 --strategy exhaustive --runs 60 --tile 256,512 --warps 4,8 --replicas 8,16 --split auto,24,32,48,64,96,128,192,256 \
  --file $R/splits.json --table $OUT/table.md > $R/tune.log 2>&1; echo "tune rc $?"
grep "_b1_" $OUT/table.md | cut -c1-200
cp tuned-configs/nvidia-h100-80gb-hbm3.json $R/with-splits.json
/tmp/vi tune --merge $R/splits.json --file $R/with-splits.json
G="--random-weights --largest-at= --steps 30 --batches 1 --contexts 32768,131072"
for round in 1 2; do
  for t in splits shipped; do
    if [ $t = splits ]; then F=$R/with-splits.json; else F=tuned-configs; fi
    VECINFER_TUNED_CONFIGS=$F timeout 100 /tmp/vi decode-bench $G --caches d4b8/d4b8 --json $R/b1-$t-$round.json > /dev/null 2>&1 || echo "$t failed"
  done
  timeout 100 /tmp/vi decode-bench $G --caches fp16 --json $R/b1-fp16-$round.json > /dev/null 2>&1
done
python3 - <<PY | tee $OUT/summary.txt
import json, glob
for f in sorted(glob.glob('$R/b1-*.json')):
    d = json.load(open(f)); rows = d['rows'] if isinstance(d, dict) else d
    for r in rows: print(f.split('/')[-1], r['context'], round(r['graph_ms'], 4), r['cache_kernel'].split('paged64, ')[-1][:100])
PY
gzip -c $R/splits.json > $OUT/splits.json.gz; cp $R/tune.log $OUT/
