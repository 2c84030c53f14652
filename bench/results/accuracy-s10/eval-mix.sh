#!/usr/bin/env bash
# Session 10, real-model call 4 of 4 (after session 7's real-part.sh a and b, and a call that
# copied .carry/s10a/cb-* into /root/vi: the carry limit): K/V bit mixes
# calibrated on both context lengths (`calibrate --ctx 2048,8192 --max-tokens 24576`, balanced
# λ, attention-weighted k-means: session 9's recipe, which made d4b8/d4b8 the best 2-bit file at
# 8192) — K d4b8 / V d8b12, K d4b10 / V d8b12, K d4b12 / V d4b8 — beside session 9's mix-calibrated
# d4b8/d4b8, GPU perplexity over all of eval.txt at ctx 2048 (60 windows) and 8192 (15), 4 sinks,
# several fp16 windows (bits at the context, every fp16 token counted, in each JSON). Then ctx
# 4096. (The speed of the mixes: speed-mix.sh.)
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH
V=/root/vi; cp .carry/m6/c/mpart-* $V/; export VECINFER_CACHE_DIR=$V/cache
M=$V/cache/models/SmolLM2-135M-Instruct.Q4_1.gguf; mkdir -p $V/cache/models
[ -s $M ] || cat $V/mpart-aa $V/mpart-ab $V/mpart-ac | xz -d > $M; sha256sum $M | cut -c1-16
xz -dc .carry/s10/vi.xz > $V/vi && chmod +x $V/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
ev() { local name=$1; shift; timeout 150 $V/vi eval --model $M --device cuda --text $V/eval.txt --sinks 4 --methods vecinfer --json $OUT/eval-$name.json "$@" > $OUT/eval-$name.txt 2>&1; echo "eval $name rc $?"; grep -E "^vecinfer  " $OUT/eval-$name.txt | tail -1 | cut -c1-120; }
for ctx in 2048 8192; do
  timeout 100 $V/vi eval --model $M --device cuda --text $V/eval.txt --ctx $ctx --methods fp16 --json $OUT/eval-c$ctx-fp16.json > $OUT/eval-c$ctx-fp16.txt 2>&1; echo "fp16 $ctx rc $?"; grep -E "^fp16  " $OUT/eval-c$ctx-fp16.txt | tail -1 | cut -c1-120
  for r in 32 64 128; do
    ev c$ctx-d4b8-d4b8-r$r --ctx $ctx --residual $r --codebooks $V/cb-d4b8-d4b8-layer-mix-balanced.safetensors
    ev c$ctx-d4b8-d8b12-r$r --ctx $ctx --residual $r --codebooks $V/cb-d4b8-d8b12-layer-mix-balanced.safetensors
    ev c$ctx-d4b10-d8b12-r$r --ctx $ctx --residual $r --codebooks $V/cb-d4b10-d8b12-layer-mix-balanced.safetensors
    ev c$ctx-d4b12-d4b8-r$r --ctx $ctx --residual $r --codebooks $V/cb-d4b12-d4b8-layer-mix-balanced.safetensors
  done
done
# No fp16 window but the sinks (2.03 bits at 2048 for both 2.0-code-bit files), and 16 tokens.
for ctx in 2048 8192; do
  for r in 0 16; do
    ev c$ctx-d4b8-d4b8-r$r --ctx $ctx --residual $r --codebooks $V/cb-d4b8-d4b8-layer-mix-balanced.safetensors
    ev c$ctx-d4b10-d8b12-r$r --ctx $ctx --residual $r --codebooks $V/cb-d4b10-d8b12-layer-mix-balanced.safetensors
  done
done
# How the loss grows with context: 4096 (30 windows) for the two 2.0-code-bit files.
timeout 100 $V/vi eval --model $M --device cuda --text $V/eval.txt --ctx 4096 --methods fp16 --json $OUT/eval-c4096-fp16.json > $OUT/eval-c4096-fp16.txt 2>&1; echo "fp16 4096 rc $?"
ev c4096-d4b8-d4b8-r128 --ctx 4096 --codebooks $V/cb-d4b8-d4b8-layer-mix-balanced.safetensors
ev c4096-d4b10-d8b12-r128 --ctx 4096 --codebooks $V/cb-d4b10-d8b12-layer-mix-balanced.safetensors
cd $OUT && tar czf eval.tgz *.json *.txt && rm -f *.json *.txt
