#!/usr/bin/env bash
cd "$(git rev-parse --show-toplevel)"
/tmp/vi-s27 calibrate --model /root/.cache/vecinfer/models/SmolLM2-135M-Instruct.Q4_1.gguf --text ../shared/data/wikitext2/calib.txt --ctx 2048 --max-tokens 16384 --methods vecinfer --granularity head --k d4b8 --v d8b8 --out out/s27/head-d4b8-d8b8.safetensors > out/s27/calibrate-head2.log 2>&1 || exit 1
cd out/s27 && /tmp/vi-s27 plan --codebooks head-d8b10-d8b8.safetensors --layer-codebooks 1,3,4,5,6,10,11,12,13,15,25,26,27,29=head-d8b8-d8b8.safetensors --layer-codebooks 7,18,20,23,24=cb-d4b12-d8b8.safetensors --layer-codebooks 8,14,17=head-d4b8-d8b8.safetensors --out win-65-head2.safetensors && cd ../..
/tmp/vi-s27 eval --model /root/.cache/vecinfer/models/SmolLM2-135M-Instruct.Q4_1.gguf --text ../shared/data/wikitext2/eval.txt --ctx 2048 --max-windows 4 --sinks 4 --window int8 --residual 65 --no-attention-error --methods vecinfer --codebooks out/s27/win-65-head2.safetensors --json out/s27/eval-win-65-head2.json > out/s27/eval-win-65-head2.txt 2>&1
grep -E "^vecinfer " out/s27/eval-win-65-head2.txt | tail -1
