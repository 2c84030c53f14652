#!/usr/bin/env bash
# FP8 centroid study: eval each codebook variant on the first $W windows of eval.txt (ctx 2048, 4 sinks, int8 window of 128).
set -euo pipefail
cd /tmp/fp8study
W=${W:-8}
D=/work/shared/data/wikitext2
./vecinfer dump-kv --text $D/eval.txt --tokens 2048 --out kv-eval2048.safetensors
mkdir -p evals
for v in f16 e4m3 e4m3-p2max e4m3-mse int8 e4m3-col e5m2 e4m3-p2max2 e4m3-p2mse; do
  m=vecinfer; [ $v = f16 ] && m=fp16,vecinfer
  /usr/bin/time -f "%e s" ./vecinfer eval --text $D/eval.txt --codebooks cb-$v.safetensors --ctx 2048 \
    --max-windows $W --sinks 4 --methods $m --json evals/$v.json > evals/$v.txt 2>&1
  echo "== $v"; cat evals/$v.txt
done
