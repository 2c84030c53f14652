#!/usr/bin/env bash
# Session 29, CPU (the oracle): the 1.5-bit plan (out/s29/plan-1.5.safetensors, the same layers
# and files as h200-final's merged-1.2625) over all 60 windows of eval.txt, as the GPU ran it.
set -u
M=/root/.cache/vecinfer/models/SmolLM2-135M-Instruct.Q4_1.gguf
s=$(date +%s)
$1 eval --model $M --text ../shared/data/wikitext2/eval.txt --ctx 2048 --sinks 4 --window int8 --residual 65 \
  --no-attention-error --methods fp16,vecinfer --codebooks out/s29/plan-1.5.safetensors --json $2/eval-plan-1.5-cpu.json
echo "eval rc $? $(( $(date +%s) - s )) s"
