#!/usr/bin/env bash
# The accuracy grid of issue 2: calibrate on calib.txt, evaluate on eval.txt at ctx 2048, for
# every codec pair, granularity and method. Resumable: finished files are skipped.
#
#   bench/accuracy/grid.sh OUTDIR [WINDOWS] [GRANULARITIES] [SINKS...]
#
# Environment: VECINFER (the binary, default target/release/vecinfer), MODEL (a GGUF, default
# the fetched SmolLM2), DATA (folder with calib.txt and eval.txt, default ../shared/data/wikitext2),
# JOBS (processes at once, default 1; each gets nproc/JOBS threads: one process does not keep
# 16 cores busy).
set -euo pipefail
out=${1:?usage: grid.sh OUTDIR [WINDOWS] [GRANULARITIES] [SINKS...]}
windows=${2:-8}
granularities=${3:-"layer head"}
shift $(( $# < 3 ? $# : 3 ))
sinks_list=${*:-0}
export BIN=${VECINFER:-target/release/vecinfer} DATA=${DATA:-../shared/data/wikitext2} OUT=$out WINDOWS=$windows
export MODEL_ARGS=${MODEL:+--model $MODEL}
jobs=${JOBS:-1}
export RAYON_NUM_THREADS=$(( $(nproc) / jobs > 0 ? $(nproc) / jobs : 1 ))
mkdir -p "$out"
# K codec, V codec: 4, 3, 2, 1.5 and 1.25 bits per element (3 bit matches KIVI-2's real cost).
configs=("d2b8 d2b8" "d4b12 d4b12" "d4b8 d4b8" "d8b12 d8b12" "d8b12 d8b8")

calibrate() { # K V GRANULARITY
  local cb="$OUT/cb-$1-$2-$3.safetensors"
  [ -f "$cb" ] || "$BIN" calibrate --text "$DATA/calib.txt" $MODEL_ARGS --k "$1" --v "$2" --granularity "$3" \
    --out "$cb" > "$OUT/log-cb-$1-$2-$3.txt" 2>&1
}
evaluate() { # K V GRANULARITY SINKS (K = baselines: fp16 and kivi2)
  if [ "$1" = baselines ]; then
    local result="$OUT/eval-baselines-s$4.json" args=(--methods fp16,kivi2)
  else
    local result="$OUT/eval-$1-$2-$3-s$4.json"
    local args=(--codebooks "$OUT/cb-$1-$2-$3.safetensors" --methods vq,vq+smooth,vq+hadamard,vecinfer)
  fi
  [ -f "$result" ] || "$BIN" eval --text "$DATA/eval.txt" $MODEL_ARGS --max-windows "$WINDOWS" --sinks "$4" \
    "${args[@]}" --json "$result" > "${result%.json}.log" 2>&1
}
export -f calibrate evaluate

for g in $granularities; do for c in "${configs[@]}"; do echo "$c $g"; done; done \
  | xargs -P "$jobs" -L 1 bash -c 'calibrate "$@"' _
for s in $sinks_list; do
  echo "baselines - - $s"
  for g in $granularities; do for c in "${configs[@]}"; do echo "$c $g $s"; done; done
done | xargs -P "$jobs" -L 1 bash -c 'evaluate "$@"' _
