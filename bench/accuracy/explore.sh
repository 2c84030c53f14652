#!/usr/bin/env bash
# Issue 15 (2-bit accuracy) exploration on the CPU: K/V bit mixes, smooth rules (max, query,
# mixes), residual windows and fp16 anchors, each evaluated on a few windows of eval.txt.
# Resumable: a run whose JSON exists is skipped; a codebook file that exists is not retrained.
#
#   bench/accuracy/explore.sh OUTDIR CBDIR [WINDOWS] [STAGES...]
#
# CBDIR holds (or receives) cb-K-V-layer-RULE.safetensors from `calibrate --smooth LIST`.
# Stages: smooth anchors mixes (default: all, in that order). Environment as grid.sh.
set -euo pipefail
out=${1:?usage: explore.sh OUTDIR CBDIR [WINDOWS] [STAGES...]}
cbdir=${2:?usage: explore.sh OUTDIR CBDIR [WINDOWS] [STAGES...]}
windows=${3:-4}
shift $(( $# < 3 ? $# : 3 ))
stages=${*:-"smooth anchors mixes"}
bin=${VECINFER:-target/release/vecinfer}
data=${DATA:-../shared/data/wikitext2}
model_args=()
[ -n "${MODEL:-}" ] && model_args=(--model "$MODEL")
mkdir -p "$out" "$cbdir"

calibrate() { # K V METHODS RULES
  local k=$1 v=$2 methods=$3 smooth=$4 first=${4%%,*} target
  # With several rules calibrate inserts "-RULE" itself; with one, name the file so.
  target=$cbdir/cb-$k-$v-layer.safetensors
  [[ $smooth == *,* ]] || target=$(cb "$k" "$v" "$smooth")
  [ -f "$(cb "$k" "$v" "$first")" ] || "$bin" calibrate --text "$data/calib.txt" \
    "${model_args[@]}" --k "$k" --v "$v" --methods "$methods" --smooth "$smooth" --ctx 2048 \
    --out "$target" > "$cbdir/log-cb-$k-$v-layer.txt" 2>&1
}
evaluate() { # NAME ARGS...
  local name=$1; shift
  [ -f "$out/$name.json" ] || "$bin" eval --window fp16 --text "$data/eval.txt" "${model_args[@]}" --max-windows "$windows" \
    --sinks 4 --no-attention-error "$@" --json "$out/$name.json" > "$out/$name.log" 2>&1
}
cb() { echo "$cbdir/cb-$1-$2-layer-${3//:/_}.safetensors"; }

for stage in $stages; do
  case $stage in
  smooth) # 2-bit keys and values, residual 128: which λ
    calibrate d4b8 d4b8 vq,vq+smooth,vq+hadamard,vecinfer max,query,mix:0.5:0.5,mix:1:1,balanced,mix:1:0.5
    for rule in max query mix:0.5:0.5; do
      evaluate "smooth-d4b8-d4b8-${rule//:/_}-r128" --codebooks "$(cb d4b8 d4b8 "$rule")" --methods vq+smooth,vecinfer
    done
    for rule in balanced mix:1:0.5; do
      evaluate "smooth-d4b8-d4b8-${rule//:/_}-r128" --codebooks "$(cb d4b8 d4b8 "$rule")" --methods vecinfer
    done ;;
  anchors) # 1% anchors (20 of 2048 tokens) by each rule
    for rule in attention norm error; do
      evaluate "anchors-d4b8-d4b8-${ANCHOR_SMOOTH:-balanced}-r128-a1-$rule" --codebooks "$(cb d4b8 d4b8 "${ANCHOR_SMOOTH:-balanced}")" \
        --methods vecinfer --anchors 1% --anchor-rule "$rule"
    done ;;
  mixes) # K/V bit allocation, with the residual windows that make ~1.5, 2 and 3 bits at ctx 2048
    if [ ! -f "$(cb d8b12 d8b8 balanced)" ]; then
      "$bin" calibrate --text "$data/calib.txt" "${model_args[@]}" --k d4b8 --v d8b8 \
        --also d4b10/d8b8,d4b12/d8b8,d4b12/d4b8,d8b12/d8b8 --methods vq,vecinfer --smooth max,mix:0.5:0.5,balanced --ctx 2048 \
        --out "$cbdir/cb-{k}-{v}-layer-{smooth}.safetensors" > "$cbdir/log-cb-mixes.txt" 2>&1
    fi
    while read -r k v rule r methods extra; do
      [ -z "$k" ] && continue
      # shellcheck disable=SC2086
      evaluate "mix-$k-$v-${rule//:/_}-r$r${extra:+-${extra//[% -]/}}" --codebooks "$(cb "$k" "$v" "$rule")" \
        --residual "$r" --methods "$methods" $extra
    done <<'MIXES'
d4b8 d8b8 balanced 64 vecinfer
d4b10 d8b8 balanced 32 vecinfer
d4b12 d8b8 balanced 128 vecinfer
d4b12 d4b8 balanced 64 vecinfer
d8b12 d8b8 balanced 32 vecinfer
d4b8 d4b8 balanced 32 vecinfer
d4b8 d8b8 balanced 128 vecinfer
MIXES
    ;;
  *) echo "unknown stage $stage" >&2; exit 2 ;;
  esac
done
