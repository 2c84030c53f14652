#!/usr/bin/env bash
# CPU, 4 windows of eval.txt: per-layer against per-head codebooks for 1-bit-ish keys.
cd "$(git rev-parse --show-toplevel)"
M=/root/.cache/vecinfer/models/SmolLM2-135M-Instruct.Q4_1.gguf
while ! grep -q "^rc" out/s27/calibrate-head.log; do sleep 10; done
for f in cb-d8b10-d8b8 head-d8b10-d8b8 cb-d8b8-d8b8 head-d8b8-d8b8; do
  m=vecinfer; [ $f = cb-d8b10-d8b8 ] && m=fp16,vecinfer
  s=$(date +%s)
  nice -n 19 /tmp/vi-s27 eval --model $M --text ../shared/data/wikitext2/eval.txt --ctx 2048 --max-windows 4 \
    --sinks 4 --window int8 --residual 65 --no-attention-error --methods $m --codebooks out/s27/$f.safetensors \
    --json out/s27/eval-$f.json > out/s27/eval-$f.txt 2>&1
  echo "$f rc $? $(( $(date +%s) - s )) s"; grep -E "^(vecinfer|fp16) " out/s27/eval-$f.txt | tail -2
done
