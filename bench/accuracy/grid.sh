#!/usr/bin/env bash
# The accuracy grid of issue 2: calibrate on calib.txt, evaluate on eval.txt at ctx 2048, for
# every codec pair, granularity and method. Resumable: finished files are skipped. Each
# configuration is evaluated as soon as its codebooks exist, cheap ones first, so a run cut
# short still leaves whole rows.
#
#   bench/accuracy/grid.sh OUTDIR [WINDOWS] [GRANULARITIES] [SINKS...]
#
# Environment: VECINFER (the binary, default target/release/vecinfer), MODEL (a GGUF, default
# the fetched SmolLM2), DATA (folder with calib.txt and eval.txt, default ../shared/data/wikitext2),
# SMOOTH (calibrate --smooth rule, default max; files and results get "-RULE" unless max),
# RESIDUAL (eval --residual, default 128; results get "-rN" unless 128).
set -euo pipefail
out=${1:?usage: grid.sh OUTDIR [WINDOWS] [GRANULARITIES] [SINKS...]}
windows=${2:-8}
granularities=${3:-"layer head"}
shift $(( $# < 3 ? $# : 3 ))
sinks_list=${*:-0}
bin=${VECINFER:-target/release/vecinfer}
data=${DATA:-../shared/data/wikitext2}
model_args=()
[ -n "${MODEL:-}" ] && model_args=(--model "$MODEL")
mkdir -p "$out"
smooth=${SMOOTH:-max}
residual=${RESIDUAL:-128}
tag=""
[ "$smooth" = max ] || tag="-${smooth//:/_}"
rtag=""
[ "$residual" = 128 ] || rtag="-r$residual"
# K codec, V codec: 4, 3, 2, 1.5 and 1.25 bits per element (3 bit matches KIVI-2's real cost),
# then mixes of K and V bits (issue 15): 2.0 (K 3 + V 1), 2.5 (4 + 1, 3 + 2), 1.75 (2.5 + 1),
# 1.5 (2 + 1) and 1.25 (1.5 + 1).
configs=("d2b8 d2b8" "d4b8 d4b8" "d4b12 d4b12" "d8b12 d8b12" "d8b12 d8b8"
  "d4b12 d8b8" "d2b8 d8b8" "d4b12 d4b8" "d4b10 d8b8" "d4b8 d8b8")

evaluate() { # OUTFILE ARGS...
  local result=$1; shift
  [ -f "$result" ] || "$bin" eval --window fp16 --text "$data/eval.txt" "${model_args[@]}" --max-windows "$windows" \
    "$@" --json "$result" > "${result%.json}.log" 2>&1
}

for sinks in $sinks_list; do
  evaluate "$out/eval-baselines-s$sinks$rtag.json" --sinks "$sinks" --residual "$residual" --methods fp16,kivi2
done
for granularity in $granularities; do
  for config in "${configs[@]}"; do
    read -r k v <<<"$config"
    codebooks="$out/cb-$k-$v-$granularity$tag.safetensors"
    [ -f "$codebooks" ] || "$bin" calibrate --text "$data/calib.txt" "${model_args[@]}" --k "$k" --v "$v" \
      --granularity "$granularity" --smooth "$smooth" --ctx 2048 --out "$codebooks" > "$out/log-cb-$k-$v-$granularity$tag.txt" 2>&1
    for sinks in $sinks_list; do
      evaluate "$out/eval-$k-$v-$granularity-s$sinks$tag$rtag.json" --codebooks "$codebooks" --sinks "$sinks" \
        --residual "$residual" --methods vq,vq+smooth,vq+hadamard,vecinfer
    done
  done
done
