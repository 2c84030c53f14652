#!/usr/bin/env bash
# Session 9, real-model call 3 of 3 (after session 7's real-part.sh a and b): codebooks
# calibrated on a mix of window lengths (`calibrate --ctx 2048,8192 --max-tokens 24576`: 6
# windows of 2048 and 2 of 8192 of calib.txt; paper's λ and balanced λ, attention-weighted
# k-means, K d4b8 / V d4b8) against the 2048-calibrated files, GPU perplexity over all of
# eval.txt at ctx 2048 (60 windows) and 8192 (15), 4 sinks, newest 128 in fp16. Then the
# small-batch path without the 512-token tiles (VECINFER_WIDE_TILES=off, 4 per batch, skinny)
# on the 16 windows of spread-h200, against the CPU's NLLs there.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH
V=/root/vi; cp .carry/m6/c/mpart-* .carry/m6/c/x/cb-* .carry/s9m/cb-* $V/; export VECINFER_CACHE_DIR=$V/cache
M=$V/cache/models/SmolLM2-135M-Instruct.Q4_1.gguf; mkdir -p $V/cache/models
[ -s $M ] || cat $V/mpart-aa $V/mpart-ab $V/mpart-ac | xz -d > $M; sha256sum $M | cut -c1-16
xz -dc .carry/s9m/vi.xz > $V/vi && chmod +x $V/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
ev() { local name=$1; shift; timeout 120 $V/vi eval --model $M --device cuda --text $V/eval.txt --sinks 4 --json $OUT/eval-$name.json "$@" > $OUT/eval-$name.txt 2>&1; echo "eval $name rc $?"; grep -E "^(fp16|vecinfer) " $OUT/eval-$name.txt | cut -c1-110; }
for ctx in 2048 8192; do
  for f in mix-max mix-balanced max-wattention balanced-wattention; do
    ev c$ctx-$f --ctx $ctx --codebooks $V/cb-d4b8-d4b8-layer-$f.safetensors --methods vecinfer
  done
done
VECINFER_WIDE_TILES=off timeout 100 $V/vi eval --model $M --codebooks $V/cb-d4b8-d4b8-layer-max.safetensors --text $V/eval.txt --ctx 2048 --max-windows 16 --sinks 4 --device cuda \
  --methods vecinfer --batch 4 --projections skinny --json $OUT/gpu-4-skinny-default-tiles.json > $OUT/gpu-4-skinny-default-tiles.txt 2>&1; echo "eval rc $?"
python3 - <<PY
import json
c=[r for r in json.load(open('bench/results/model-s9/spread-h200/cpu.json'))['results'] if r['method']=='vecinfer'][0]
r=[r for r in json.load(open('$OUT/gpu-4-skinny-default-tiles.json'))['results'] if r['method']=='vecinfer'][0]
d=[a-b for a,b in zip(r['window_nll'],c['window_nll'])]
print('4, default tiles', ' '.join(f'{x:+.1f}' for x in d), f'sum {sum(d):+.1f} ppl {r["perplexity"]:.4f} vs cpu {c["perplexity"]:.4f} ({100*(r["perplexity"]/c["perplexity"]-1):+.3f}%)')
PY
