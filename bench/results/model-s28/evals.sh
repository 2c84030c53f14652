#!/usr/bin/env bash
# Session 28, H200: each plan over all of eval.txt (60 windows, ctx 2048, 4 int8 sinks, --residual W).
# Usage: evals.sh DIR W PLAN... (carry DIR: vi.xz and the plans; the model parts were copied to /root/s28 first)
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc
R=/root/s28; M=$R/model.gguf; D=$1; W=$2; shift 2
mkdir -p $R; cp $D/* $R/; [ -x $R/vi ] || { xz -dc $R/vi.xz > $R/vi; chmod +x $R/vi; }
[ -f $M ] || { cp .carry/m3/gg-part-02 $R/ && cat $R/gg-part-00 $R/gg-part-01 $R/gg-part-02 > $M; }
sha256sum $M | cut -c1-16
[ -f $R/eval.txt ] || cp .carry/m3/eval.txt $R/
for p in "$@"; do
  s=$(date +%s)
  timeout 90 $R/vi eval --model $M --device cuda --text $R/eval.txt --ctx 2048 --sinks 4 --window int8 \
    --no-attention-error --residual $W --methods fp16,vecinfer --codebooks $R/$p.safetensors \
    --json $OUT/eval-$p.json > $OUT/eval-$p.txt 2>&1
  echo "$p rc $? $(( $(date +%s) - s )) s"; grep -E "^(vecinfer|fp16) " $OUT/eval-$p.txt | tail -2 | cut -c1-120
done
