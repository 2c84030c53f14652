#!/usr/bin/env bash
# A layer-wise 2-bit plan from scratch (session 24, bench/results/model-s24): calibrate the
# codec pairs on both context lengths, rank the layers by the loss each makes alone on the
# calibration text (eval --only-layers), then evaluate the plan: K d4b8 / V d8b8 everywhere, the
# 4 worst layers at d4b12 / d4b10 and the next 2 at d4b12 / d4b8, 4 int8 sinks and a 74-token
# int8 window (1.98 bits at ctx 2048). Session 24: +4.48% at 2048, +3.01% at 8192 (311 int8).
#
#   bench/accuracy/layerwise.sh OUTDIR [DEVICE]
#
# DEVICE: cpu (default) or cuda for the final eval (the probe is CPU only). Sizes from the
# environment: CTX (eval, 2048), RESIDUAL (74), PROBE_WINDOWS (4), MAX_TOKENS (calibration,
# 24576), CAL_CTX (2048,8192), EVAL_WINDOWS (all). On 2 cores the calibration takes ~30 min and
# the probe ~20 min. Resumable: files that exist are not made again.
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
cb() { echo "$out/cb-$1.safetensors"; }

if [ ! -f "$(cb d4b12-d4b8)" ]; then
  "$bin" calibrate "${model_args[@]}" --text "$data/calib.txt" --ctx "${CAL_CTX:-2048,8192}" \
    --max-tokens "${MAX_TOKENS:-24576}" --methods vecinfer --smooth balanced --k d4b8 --v d8b8 \
    --also d4b12/d4b10,d4b12/d4b8 --out "$out/cb-{k}-{v}.safetensors"
fi

# The probe: each layer alone at the base codecs, on the calibration text.
probe=(--text "$data/calib.txt" --ctx "$ctx" --max-windows "${PROBE_WINDOWS:-4}" --sinks 4
  --window int8 --residual "$residual" --no-attention-error)
[ -f "$out/probe-fp16.json" ] || "$bin" eval "${model_args[@]}" "${probe[@]}" --methods fp16 \
  --json "$out/probe-fp16.json" > /dev/null
# The model's layer count, from the codebook file's metadata (its safetensors header).
layers=$(python3 - "$(cb d4b8-d8b8)" <<'EOF'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    print(json.loads(f.read(n))["__metadata__"]["layers"])
EOF
)
for ((layer = 0; layer < layers; layer++)); do
  json="$out/probe-layer-$layer.json"
  [ -f "$json" ] || "$bin" eval "${model_args[@]}" "${probe[@]}" --methods vecinfer \
    --codebooks "$(cb d4b8-d8b8)" --only-layers "$layer" --json "$json" > /dev/null
done
rank=$(python3 - "$out" "$layers" <<'EOF'
import json, math, sys
out, layers = sys.argv[1], int(sys.argv[2])
ppl = lambda p: json.load(open(p))["results"][0]["perplexity"]
fp16 = ppl(f"{out}/probe-fp16.json")
loss = {l: math.log(ppl(f"{out}/probe-layer-{l}.json") / fp16) for l in range(layers)}
print(" ".join(str(l) for l in sorted(loss, key=loss.get, reverse=True)))
EOF
)
echo "layers by the loss each makes alone: $rank" | tee "$out/rank.txt"
set -- $rank
"$bin" eval "${model_args[@]}" --device "$device" --text "$data/eval.txt" --ctx "$ctx" \
  "${windows_args[@]}" --methods fp16,vecinfer --sinks 4 --window int8 --residual "$residual" \
  --no-attention-error --codebooks "$(cb d4b8-d8b8)" \
  --layer-codebooks "$1,$2,$3,$4=$(cb d4b12-d4b10)" --layer-codebooks "$5,$6=$(cb d4b12-d4b8)" \
  --json "$out/plan-$ctx.json"
