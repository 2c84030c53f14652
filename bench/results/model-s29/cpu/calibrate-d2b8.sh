#!/usr/bin/env bash
# Session 29, CPU: a per-head K d2b8 / V d8b8 file (4-bit keys) for the most sensitive layers of
# the 1.5-bit plan, calibrated as session 27/28's per-head files (ctx 2048, 16384 tokens of calib.txt).
set -u
M=/root/.cache/vecinfer/models/SmolLM2-135M-Instruct.Q4_1.gguf
s=$(date +%s)
$1 calibrate --model $M --text ../shared/data/wikitext2/calib.txt --ctx 2048 --max-tokens 16384 --methods vecinfer \
  --granularity head --k d2b8 --v d8b8 --out out/s29/head-d2b8-d8b8.safetensors
echo "calibrate rc $? $(( $(date +%s) - s )) s"
