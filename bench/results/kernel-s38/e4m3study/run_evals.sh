#!/usr/bin/env bash
# e4m3 key-book study: eval each key-book variant on the first $W windows of eval.txt (ctx 2048, 4 sinks, int8 window of 128).
set -euo pipefail
cd ${STUDY:-/tmp/e4m3study}
W=${W:-8}
D=/work/shared/data/wikitext2
mkdir -p evals
for p in ${PAIRS:-kd8b12-vd8b8 kd8b12-vd8b12}; do
for v in f16 e4m3 e4m3-p2max; do
  m=vecinfer; [ $v = f16 ] && [ $p = kd8b12-vd8b8 ] && m=fp16,vecinfer
  /usr/bin/time -f "%e s" nice -n 10 ./vecinfer eval --text $D/eval.txt --codebooks cb-$p-$v.safetensors --ctx 2048 \
    --max-windows $W --sinks 4 --methods $m --json evals/$p-$v.json > evals/$p-$v.txt 2>&1
  echo "== $p $v"; cat evals/$p-$v.txt
done
done
