#!/usr/bin/env bash
# Session 28, CPU (2 cores): calibrate's default pair, K d4b8 / V d4b8, per layer against per head.
# ctx 2048, 16384 tokens of calib.txt; the first 4 windows of eval.txt, 4 int8 sinks, a 64-token int8 window.
cd /work/main
M=/root/.cache/vecinfer/models/SmolLM2-135M-Instruct.Q4_1.gguf
for g in layer head; do
  s=$(date +%s)
  /tmp/vi-s28 calibrate --model $M --text ../shared/data/wikitext2/calib.txt --ctx 2048 --max-tokens 16384 --methods vecinfer \
    --granularity $g --k d4b8 --v d4b8 --out out/s28/$g-d4b8-d4b8.safetensors > out/s28/calibrate-$g-d4b8-d4b8.log 2>&1
  echo "calibrate $g rc $? $(( $(date +%s) - s )) s"
done
for g in layer head; do
  m=vecinfer; [ $g = layer ] && m=fp16,vecinfer
  /tmp/vi-s28 eval --model $M --text ../shared/data/wikitext2/eval.txt --ctx 2048 --max-windows 4 --sinks 4 --window int8 \
    --residual 64 --no-attention-error --methods $m --codebooks out/s28/$g-d4b8-d4b8.safetensors \
    --json out/s28/eval-$g-d4b8-d4b8.json > out/s28/eval-$g-d4b8-d4b8.txt 2>&1
  echo "eval $g rc $?"; grep -E "^(vecinfer|fp16) " out/s28/eval-$g-d4b8-d4b8.txt | tail -2
done
