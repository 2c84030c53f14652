#!/usr/bin/env bash
# Session 7, real-model call 3 of 3: SmolLM2 on the GPU with this session's defaults (skinny
# projections up to 4 sequences, programmatic dependent launches on sm_90, one-wave splits):
# gpu-check against the CPU pass (logits at batch 1 and 2 with skinny and cuBLAS projections,
# perplexity on 2 windows per method), then greedy generation from the FP16 and 2-bit caches.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH
V=/root/vi; cp .carry/m6/c/mpart-* .carry/m6/c/x/* $V/; export VECINFER_CACHE_DIR=$V/cache
M=$V/cache/models/SmolLM2-135M-Instruct.Q4_1.gguf; mkdir -p $V/cache/models
[ -s $M ] || cat $V/mpart-aa $V/mpart-ab $V/mpart-ac | xz -d > $M; sha256sum $M | cut -c1-16
xz -dc $V/vecinfer-s7.xz > $V/vi; chmod +x $V/vi
B=$V/vi; CB=$V/cb-d4b8-d4b8-layer-max.safetensors; G=$OUT/generate.txt
timeout 200 $B gpu-check --skip-tiny --model $M --codebooks $CB --text $V/eval.txt --ctx 2048 --windows 2 --sinks 4 \
  --json $OUT/check-real.json > $OUT/check-real.txt 2>&1; echo "gpu-check rc $?"
grep -E "PASS|FAIL|passed" $OUT/check-real.txt | cut -c1-200
chat="<|im_start|>user
What is the capital of France, and what is it known for?<|im_end|>
<|im_start|>assistant
"
for cache in fp16 vq; do
  echo "### generate --cache $cache" >> $G
  timeout 60 $B generate --device cuda --cache $cache --codebooks $CB --sinks 4 --tokens 48 --prompt "The history of Paris begins" >> $G 2>&1
  timeout 60 $B generate --device cuda --cache $cache --codebooks $CB --sinks 4 --residual 16 --tokens 48 --prompt "$chat" >> $G 2>&1
done
cat $G | cut -c1-300
