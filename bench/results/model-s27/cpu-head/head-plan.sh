#!/usr/bin/env bash
cd "$(git rev-parse --show-toplevel)"
M=/root/.cache/vecinfer/models/SmolLM2-135M-Instruct.Q4_1.gguf
for f in win-65 win-65-head; do
  s=$(date +%s)
  /tmp/vi-s27 eval --model $M --text ../shared/data/wikitext2/eval.txt --ctx 2048 --max-windows 4 \
    --sinks 4 --window int8 --residual 65 --no-attention-error --methods vecinfer --codebooks out/s27/$f.safetensors \
    --json out/s27/eval-$f.json > out/s27/eval-$f.txt 2>&1
  echo "$f rc $? $(( $(date +%s) - s )) s"; grep -E "^vecinfer " out/s27/eval-$f.txt | tail -1
done
