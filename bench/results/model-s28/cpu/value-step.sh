#!/usr/bin/env bash
# Session 28, CPU: at 1.125 mean code bits per head, is the extra quarter bit worth more on values
# (K d8b8 / V d8b10) than on keys (K d8b10 / V d8b8: 31.875 in session 27, same windows)?
cd /work/main
M=/root/.cache/vecinfer/models/SmolLM2-135M-Instruct.Q4_1.gguf
/tmp/vi-s28 calibrate --model $M --text ../shared/data/wikitext2/calib.txt --ctx 2048 --max-tokens 16384 --methods vecinfer \
  --granularity head --k d8b8 --v d8b10 --out out/s28/head-d8b8-d8b10.safetensors > out/s28/calibrate-head-d8b8-d8b10.log 2>&1
echo "calibrate rc $?"
/tmp/vi-s28 eval --model $M --text ../shared/data/wikitext2/eval.txt --ctx 2048 --max-windows 4 --sinks 4 --window int8 \
  --residual 65 --no-attention-error --methods vecinfer --codebooks out/s28/head-d8b8-d8b10.safetensors \
  --json out/s28/eval-head-d8b8-d8b10.json > out/s28/eval-head-d8b8-d8b10.txt 2>&1
echo "eval rc $?"; grep -E "^vecinfer " out/s28/eval-head-d8b8-d8b10.txt | tail -1
