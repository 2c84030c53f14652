#!/usr/bin/env bash
# Session 27, CPU: the window-65 plan with every part per head (the d4b12 layers too).
cd "$(git rev-parse --show-toplevel)"
M=/root/.cache/vecinfer/models/SmolLM2-135M-Instruct.Q4_1.gguf
/tmp/vi-s27 calibrate --model $M --text ../shared/data/wikitext2/calib.txt --ctx 2048 --max-tokens 16384 --methods vecinfer --granularity head --k d4b12 --v d8b8 --out out/s27/head-d4b12-d8b8.safetensors > out/s27/calibrate-head3.log 2>&1 || exit 1
cd out/s27 && /tmp/vi-s27 plan --codebooks head-d8b10-d8b8.safetensors --layer-codebooks 1,3,4,5,6,10,11,12,13,15,25,26,27,29=head-d8b8-d8b8.safetensors --layer-codebooks 7,18,20,23,24=head-d4b12-d8b8.safetensors --layer-codebooks 8,14,17=head-d4b8-d8b8.safetensors --out win-65-head3.safetensors && cd ../..
/tmp/vi-s27 eval --model $M --text ../shared/data/wikitext2/eval.txt --ctx 2048 --max-windows 4 --sinks 4 --window int8 --residual 65 --no-attention-error --methods vecinfer --codebooks out/s27/win-65-head3.safetensors --json out/s27/eval-win-65-head3.json > out/s27/eval-win-65-head3.txt 2>&1
