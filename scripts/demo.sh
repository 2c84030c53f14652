#!/usr/bin/env bash
# The main job on a CPU-only machine: build, fetch SmolLM2-135M, calibrate 2-bit VecInfer
# codebooks on WikiText-2, and compare perplexity of fp16, plain VQ, VecInfer and KIVI-2.
# Takes about 5 minutes on 2 cores. Run from anywhere; writes into out/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${DATA:-../shared/data/wikitext2}
windows=${WINDOWS:-2}
cargo build --release -p vecinfer
bin=target/release/vecinfer
mkdir -p out/demo
"$bin" fetch-model
"$bin" calibrate --text "$data/calib.txt" --k d4b8 --v d4b8 --methods vq,vecinfer \
  --max-tokens 8192 --out out/demo/codebooks-d4b8.safetensors
"$bin" eval --text "$data/eval.txt" --codebooks out/demo/codebooks-d4b8.safetensors \
  --max-windows "$windows" --sinks 4 --methods fp16,vq,vecinfer,kivi2 --json out/demo/eval.json
