#!/usr/bin/env bash
# Issue 15 item 4: attention-weighted k-means (`calibrate --weight`), on the CPU, 4 windows,
# the eval flags of explore.sh (--sinks 4 --no-attention-error). Resumable like explore.sh.
#
#   bench/accuracy/weights.sh OUTDIR CBDIR [WINDOWS]
set -euo pipefail
out=${1:?usage: weights.sh OUTDIR CBDIR [WINDOWS]}
cbdir=${2:?usage: weights.sh OUTDIR CBDIR [WINDOWS]}
windows=${3:-4}
bin=${VECINFER:-target/release/vecinfer}
data=${DATA:-../shared/data/wikitext2}
mkdir -p "$out" "$cbdir"
evaluate() { # NAME ARGS...
  local name=$1; shift
  [ -f "$out/$name.json" ] || "$bin" eval --window fp16 --text "$data/eval.txt" --max-windows "$windows" \
    --sinks 4 --no-attention-error "$@" --json "$out/$name.json" > "$out/$name.log" 2>&1
}
cb() { echo "$cbdir/cb-$1-$2-layer-$3-w${4//:/_}.safetensors"; }

# K 2 / V 2 bits, residual 128 (2.90 bits @ctx): both λ, four weight rules.
[ -f "$(cb d4b8 d4b8 balanced fisher)" ] || "$bin" calibrate --text "$data/calib.txt" --k d4b8 --v d4b8 \
  --methods vecinfer --smooth max,balanced --weight none,attention,attention:0.5,fisher --ctx 2048 \
  --out "$cbdir/cb-{k}-{v}-layer-{smooth}-w{weight}.safetensors" > "$cbdir/log-cb-d4b8-d4b8-weights.txt" 2>&1
for smooth in balanced max; do
  for weight in none attention attention:0.5 fisher; do
    evaluate "weight-d4b8-d4b8-$smooth-w${weight//:/_}-r128" --codebooks "$(cb d4b8 d4b8 $smooth $weight)" \
      --methods vecinfer --residual 128
  done
done

# 2.00 bits @ctx: K 2 / V 1.5 (d4b8/d8b12), residual 32, balanced λ; none and attention.
# (Slow on 2 cores: each 4096-centroid value codebook set takes ~10 minutes of k-means.)
[ -f "$(cb d4b8 d8b12 balanced attention)" ] || "$bin" calibrate --text "$data/calib.txt" --k d4b8 --v d8b12 \
  --methods vecinfer --smooth balanced --weight none,attention --ctx 2048 \
  --out "$cbdir/cb-{k}-{v}-layer-{smooth}-w{weight}.safetensors" > "$cbdir/log-cb-d4b8-d8b12-weights.txt" 2>&1
for weight in none attention; do
  evaluate "weight-d4b8-d8b12-balanced-w$weight-r32" --codebooks "$(cb d4b8 d8b12 balanced $weight)" \
    --methods vecinfer --residual 32
done
