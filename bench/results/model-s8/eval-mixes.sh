#!/usr/bin/env bash
# Session 8, real-model call 4 of 4: SmolLM2 on the GPU with this session's kernels (dependent
# launches, the new split merge): gpu-check against the CPU pass, then the issue-15 configs
# re-trained with the iterating k-means and attention weights, all 60 windows of eval.txt at
# ctx 2048, 4 sinks, beside the session-6 one-step files they replace:
# - 2.00 bits: K d4b8 / V d8b12, residual 32, balanced λ (30 Lloyd steps or one, weights none
#   or attention);
# - 2.95 bits: K d4b12 / V d4b8, residual 64, balanced λ, attention weights, 30 steps (32 or
#   128 samples per centroid).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH
V=/root/vi; cp .carry/m6/c/mpart-* $V/; [ -d .carry/s8r ] && cp .carry/s8r/* $V/; export VECINFER_CACHE_DIR=$V/cache
M=$V/cache/models/SmolLM2-135M-Instruct.Q4_1.gguf; mkdir -p $V/cache/models
[ -s $M ] || cat $V/mpart-aa $V/mpart-ab $V/mpart-ac | xz -d > $M; sha256sum $M | cut -c1-16
xz -dc $V/vecinfer-new.xz > $V/vi; chmod +x $V/vi
B=$V/vi; T=$V/eval.txt
timeout 200 $B gpu-check --skip-tiny --model $M --codebooks $V/cb-d4b8-d4b8-layer-max.safetensors --text $T --ctx 2048 --windows 2 --sinks 4 \
  --json $OUT/check-real.json > $OUT/check-real.txt 2>&1; echo "gpu-check rc $?"
grep -E "PASS|FAIL|passed" $OUT/check-real.txt | cut -c1-200
W=/tmp/w; mkdir -p $W
# Outputs go to $W and into $OUT/eval-mixes.tgz after each eval (a call stopped by its time
# limit still returns what ran).
ev() { local name=$1 r=$2; shift 2; timeout 150 $B eval --model $M --device cuda --text $T --sinks 4 --residual $r --json $W/eval-$name.json "$@" > $W/eval-$name.txt 2>&1; echo "eval $name rc $?"; grep -E "^(fp16|vq|vecinfer) +ppl" $W/eval-$name.txt | cut -c1-70; tar czf $OUT/eval-mixes.tgz -C $W .; }
for f in balanced balanced-wnone balanced-wattention balanced-wnone-it1 balanced-wattention-it1; do
  ev d4b8-d8b12-$f-r32 32 --codebooks $V/cb-d4b8-d8b12-layer-$f.safetensors --methods vecinfer
done
for f in balanced-spc128 balanced-wattention balanced-wattention-spc128; do
  [ -s $V/cb-d4b12-d4b8-layer-$f.safetensors ] && ev d4b12-d4b8-$f-r64 64 --codebooks $V/cb-d4b12-d4b8-layer-$f.safetensors --methods vecinfer
done
