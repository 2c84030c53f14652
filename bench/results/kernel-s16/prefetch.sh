#!/usr/bin/env bash
# Session 16, H100: an L2 prefetch of each split's first tiles (KernelConfig::prefetch_tiles)
# against none, kernel alone (verified against the CPU reference first) and in whole steps.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s16; R=/tmp/r; mkdir -p $R
xz -dc $S/vi-pf.xz > $R/vi && chmod +x $R/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
SM="--heads 9 --kv-heads 3 --head-dim 64 --codecs d4b8/d4b8"
timeout 150 $R/vi bench $SM --shapes 1x8192,1x32768,1x131072,4x32768,64x8192 --layouts contiguous,paged64 --tile 512 --warps 8 --replicas 4,16 --prefetch 0,2,4,16 --runs 50 --json $OUT/smol-w8.json > $OUT/smol-w8.txt 2>&1; echo "smol w8 rc $?"
timeout 100 $R/vi bench $SM --shapes 1x8192,1x32768,1x131072,4x32768,64x8192 --prefetch 0,4,16 --runs 50 --json $OUT/smol-default.json > $OUT/smol-default.txt 2>&1; echo "smol default rc $?"
timeout 120 $R/vi bench --codecs d4b8/d4b8 --shapes 1x32768,1x131072,8x32768,64x8192 --prefetch 0,2,4,16 --min-blocks 3 --runs 50 --json $OUT/llama.json > $OUT/llama.txt 2>&1; echo "llama rc $?"
grep -hE "error|refused|FAIL" $OUT/*.txt | head
# whole steps: the shipped file, and a copy whose batch-1 SmolLM2 winners prefetch 16 tiles
python3 - <<'PY'
import json
d = json.load(open('tuned-configs/nvidia-h100-80gb-hbm3.json'))
n = 0
for k, e in d['entries'].items():
    if k.startswith('d64') and '_b1_' in k:
        e['winner']['config']['prefetch_tiles'] = 16; n += 1
json.dump(d, open('/tmp/h100-pf.json', 'w'))
print('prefetching winners:', n)
PY
cp tuned-configs/nvidia-h100-80gb-hbm3.json /tmp/h100.json
for round in 1 2; do for f in h100 h100-pf; do
  VECINFER_TUNED_CONFIGS=/tmp/$f.json timeout 100 $R/vi decode-bench --random-weights --caches d4b8/d4b8 --batches 1 --contexts 8192,32768,131072 --largest-at= --steps 30 --tune-fp16 off > $OUT/steps-$f-$round.txt 2>&1
  echo "$f round $round: $(grep -E '^vecinfer.* x ' $OUT/steps-$f-$round.txt | sed 's/ -> .*//' | awk '{print $3 $4 $5 " " $9}' | tr '\n' ' ')"
done; done
for f in smol-w8 smol-default llama; do echo "== $f"; grep -E "^ +[0-9]+ +[0-9]+ " $OUT/$f.txt | awk '{v=$0; sub(/.*mma/, "mma", v); print $1"x"$2, $7, v}'; done
