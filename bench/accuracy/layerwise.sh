#!/usr/bin/env bash
# A layer-wise 2-bit plan from scratch (session 24's recipe, one command since session 25):
# `calibrate --layer-codecs` trains K d4b8 / V d8b8 for every layer, ranks the layers by the
# loss each makes alone on the calibration text, trains d4b12 / d4b10 for the 4 worst and
# d4b12 / d4b8 for the next 2, and writes one plan file; then `eval` scores it with 4 int8 sinks
# and a 74-token int8 window (1.98 bits at ctx 2048). Session 24 (the same plan, its steps run
# by hand): +4.48% at 2048, +3.01% at 8192 (311 int8), bench/results/model-s24.
#
#   bench/accuracy/layerwise.sh OUTDIR [DEVICE]
#
# DEVICE: cpu (default) or cuda for the eval (the ranking runs on the CPU). Sizes from the
# environment: CTX (eval, 2048), RESIDUAL (74), PROBE_WINDOWS (4), MAX_TOKENS (calibration,
# 24576), CAL_CTX (2048,8192), EVAL_WINDOWS (all). On 2 cores the calibration and ranking take
# ~50 min. Resumable: a plan file that exists is not made again.
set -euo pipefail
out=${1:?usage: layerwise.sh OUTDIR [DEVICE]}
device=${2:-cpu}
bin=${VECINFER:-target/release/vecinfer}
data=${DATA:-../shared/data/wikitext2}
ctx=${CTX:-2048}
residual=${RESIDUAL:-74}
model_args=()
[ -n "${MODEL:-}" ] && model_args=(--model "$MODEL")
windows_args=()
[ -n "${EVAL_WINDOWS:-}" ] && windows_args=(--max-windows "$EVAL_WINDOWS")
mkdir -p "$out"
plan="$out/plan-d4b8-d8b8.safetensors"

if [ ! -f "$plan" ]; then
  "$bin" calibrate "${model_args[@]}" --text "$data/calib.txt" --ctx "${CAL_CTX:-2048,8192}" \
    --max-tokens "${MAX_TOKENS:-24576}" --methods vecinfer --smooth balanced --k d4b8 --v d8b8 \
    --layer-codecs top:4=d4b12/d4b10 --layer-codecs top:2=d4b12/d4b8 \
    --probe-windows "${PROBE_WINDOWS:-4}" --out "$plan" 2> >(tee "$out/calibrate.log" >&2)
fi
"$bin" eval "${model_args[@]}" --device "$device" --text "$data/eval.txt" --ctx "$ctx" \
  "${windows_args[@]}" --methods fp16,vecinfer --sinks 4 --window int8 --residual "$residual" \
  --no-attention-error --codebooks "$plan" --json "$out/plan-$ctx.json"
