#!/usr/bin/env bash
# Session 14, H100: the code addresses once per page and lane (`address-per-unit.diff`, 21% fewer
# loop instructions) with a launch bound where its registers would cost a block per SM
# (`min-blocks.diff`, by environment: VECINFER_MIN_BLOCKS), against the landed binary, same
# configs. gpu-check first; kernel alone beside nothing (ratios old/new); then decode steps.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s14
for b in old addr; do xz -dc $S/vi-$b.xz > /tmp/vi-$b && chmod +x /tmp/vi-$b; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
VECINFER_MIN_BLOCKS=2 timeout 100 /tmp/vi-addr gpu-check > $OUT/check.txt 2>&1; echo "gpu-check addr rc $?: $(grep -cE '^PASS' $OUT/check.txt) PASS"; grep -E "^FAIL" $OUT/check.txt | cut -c1-200
row() { grep -E '^ +[0-9]+ +[0-9]+ +d4b8' $1 | awk '{print $1"x"$2":"$7}' | tr '\n' ' '; }
for round in 1 2; do
  # Llama shape, default config (t256 w4 r16): the address change needs 3 blocks kept (bound 3).
  L="--shapes 1x32768,1x131072,8x32768,64x8192 --codecs d4b8/d4b8 --runs 30"
  timeout 100 /tmp/vi-old bench $L > $OUT/llama-old-r$round.txt 2>&1; echo "llama old r$round: $(row $OUT/llama-old-r$round.txt)"
  VECINFER_MIN_BLOCKS=3 timeout 100 /tmp/vi-addr bench $L > $OUT/llama-addr-r$round.txt 2>&1; echo "llama addr r$round: $(row $OUT/llama-addr-r$round.txt)"
  # SmolLM2, paged64: t256 w4 r16 (no bound needed) and t512 w8 r16 (bound 2).
  M="--heads 9 --kv-heads 3 --head-dim 64 --codecs d4b8/d4b8 --layouts paged64 --runs 30 --replicas 16 --direct-codes true"
  W4="$M --shapes 1x131072,8x32768,16x131072,64x8192,64x131072 --warps 4 --tile 256"
  W8="$M --shapes 1x32768,1x131072,4x32768 --warps 8 --tile 512"
  timeout 120 /tmp/vi-old bench $W4 > $OUT/smol-w4-old-r$round.txt 2>&1; echo "smol w4 old r$round: $(row $OUT/smol-w4-old-r$round.txt)"
  timeout 120 /tmp/vi-addr bench $W4 > $OUT/smol-w4-addr-r$round.txt 2>&1; echo "smol w4 addr r$round: $(row $OUT/smol-w4-addr-r$round.txt)"
  timeout 100 /tmp/vi-old bench $W8 > $OUT/smol-w8-old-r$round.txt 2>&1; echo "smol w8 old r$round: $(row $OUT/smol-w8-old-r$round.txt)"
  VECINFER_MIN_BLOCKS=2 timeout 100 /tmp/vi-addr bench $W8 > $OUT/smol-w8-addr-r$round.txt 2>&1; echo "smol w8 addr r$round: $(row $OUT/smol-w8-addr-r$round.txt)"
done
grep -h "verified\|FAIL\|rror" $OUT/*-r1.txt | cut -c1-160 | sort | uniq -c | head
# Decode steps with the shipped configs (the file's fingerprint swapped to this binary's, with
# the bound 2: 8-warp kernels at 128 registers, 4-warp kernels unbounded).
rm -f /tmp/p.json; VECINFER_MIN_BLOCKS=2 /tmp/vi-addr tune --plan-only "x" --file /tmp/p.json > /dev/null 2>&1
python3 - <<'PY'
import json
d = json.load(open("tuned-configs/nvidia-h100-80gb-hbm3.json"))
d["device"]["codegen"] = json.load(open("/tmp/p.json"))["device"]["codegen"]
json.dump(d, open("/tmp/h100-addr.json", "w"))
PY
G="--random-weights --caches d4b8/d4b8 --batches 1,4,64 --contexts 8192,131072 --largest-at= --steps 20"
for round in 1 2; do
  timeout 150 /tmp/vi-old decode-bench $G > $OUT/decode-old-r$round.txt 2>&1
  echo "decode old r$round: $(grep -E '^vecinfer .* x ' $OUT/decode-old-r$round.txt | sed -E 's/^vecinfer.* ([0-9]+) x +([0-9]+): eager ([0-9.]+) ms, graph ([0-9.]+) ms.*/\1x\2:\4/' | tr '\n' ' ')"
  VECINFER_MIN_BLOCKS=2 VECINFER_TUNED_CONFIGS=/tmp/h100-addr.json timeout 150 /tmp/vi-addr decode-bench $G > $OUT/decode-addr-r$round.txt 2>&1
  echo "decode addr r$round: $(grep -E '^vecinfer .* x ' $OUT/decode-addr-r$round.txt | sed -E 's/^vecinfer.* ([0-9]+) x +([0-9]+): eager ([0-9.]+) ms, graph ([0-9.]+) ms.*/\1x\2:\4/' | tr '\n' ' ')"
done
grep -h "tuned for" $OUT/decode-addr-r1.txt | head -3 | cut -c1-200
cd $OUT && tar czf addr.tgz *.txt && rm -f *.txt
