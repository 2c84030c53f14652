#!/usr/bin/env bash
# Session 29, H200: a plan from knapsack.py's choice (args: PAIR=LAYERS ... for vecinfer plan,
# over the base head-d8b8-d8b8), then all of eval.txt as evals.sh does. $1: the plan's name.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc
R=/root/s29; M=$R/model.gguf; name=$1; shift
args=""; for a in "$@"; do args="$args --layer-codebooks ${a#*=}=$R/head-${a%%=*}.safetensors"; done
$R/vi plan --codebooks $R/head-d8b8-d8b8.safetensors $args --out $R/$name.safetensors | cut -c1-300
s=$(date +%s)
timeout 120 $R/vi eval --model $M --device cuda --text $R/eval.txt --ctx 2048 --sinks 4 --window int8 \
  --no-attention-error --residual 65 --methods fp16,vecinfer --codebooks $R/$name.safetensors \
  --json $OUT/eval-$name.json > $OUT/eval-$name.txt 2>&1
echo "$name rc $? $(( $(date +%s) - s )) s"; grep -E "^(vecinfer|fp16) " $OUT/eval-$name.txt | tail -2 | cut -c1-120
