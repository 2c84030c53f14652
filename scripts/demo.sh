#!/usr/bin/env bash
# The main job on a CPU-only machine: build, fetch SmolLM2-135M, calibrate 2-bit VecInfer
# codebooks on WikiText-2, and compare perplexity of fp16, plain VQ, VecInfer and KIVI-2; then
# calibrate a layer-wise plan and evaluate it. Takes about 12 minutes on 2 cores (after the build). Run from anywhere; writes into out/demo/
set -euo pipefail
cd "$(dirname "$0")/.."
data=${DATA:-../shared/data/wikitext2}
windows=${WINDOWS:-2}
cargo build --release -p vecinfer
bin=target/release/vecinfer
mkdir -p out/demo
"$bin" fetch-model
# --ctx 2048: the demo evaluates at 2048 only (the default, 2048,8192, also serves 8192 and
# takes a few minutes more).
"$bin" calibrate --text "$data/calib.txt" --k d4b8 --v d4b8 --methods vq,vecinfer \
  --ctx 2048 --max-tokens 8192 --out out/demo/codebooks-d4b8.safetensors
"$bin" eval --text "$data/eval.txt" --codebooks out/demo/codebooks-d4b8.safetensors \
  --max-windows "$windows" --sinks 4 --methods fp16,vq,vecinfer,kivi2 --json out/demo/eval.json
# With an NVIDIA GPU (driver, libnvrtc and libcublas found, e.g. /usr/local/cuda/lib64 on the
# loader path; DEVICE=cpu skips it), the GPU parts below run too.
gpu=no
if [ "${DEVICE:-auto}" != cpu ] && command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  gpu=yes
fi
# The layer-wise plan (fewer bits, less loss): K d4b8 / V d8b8, with more bits for the 6 layers
# that lose most when each alone is quantized, ranked on the calibration text: on one window
# on a CPU (about 5 s a layer on 2 cores), on the default 4 on a GPU (about 2 s a layer).
probe=(--probe-windows 1 --probe-ctx 2048)
[ "$gpu" = yes ] && probe=(--probe-device cuda)
"$bin" calibrate --text "$data/calib.txt" --k d4b8 --v d8b8 --methods vecinfer --ctx 2048 \
  --max-tokens 8192 --layer-codecs top:4=d4b12/d4b10 --layer-codecs top:2=d4b12/d4b8 \
  "${probe[@]}" --out out/demo/plan.safetensors
"$bin" eval --text "$data/eval.txt" --codebooks out/demo/plan.safetensors \
  --max-windows "$windows" --sinks 4 --methods fp16,vecinfer --json out/demo/eval-plan.json
# On the GPU: the same methods by the GPU kernels over all of eval.txt, a generation from the
# paged 2-bit cache, and the decode benchmark's small grid.
if [ "$gpu" = yes ]; then
  "$bin" eval --device cuda --text "$data/eval.txt" --codebooks out/demo/codebooks-d4b8.safetensors \
    --sinks 4 --methods fp16,vq,vecinfer --json out/demo/eval-gpu.json
  "$bin" eval --device cuda --text "$data/eval.txt" --codebooks out/demo/plan.safetensors \
    --sinks 4 --methods vecinfer --json out/demo/eval-plan-gpu.json
  "$bin" generate --device cuda --cache vq --codebooks out/demo/plan.safetensors \
    --tokens 48 --prompt "The history of Paris begins"
  "$bin" decode-bench --caches fp16,d4b8/d4b8 --batches 1,64 --contexts 8192 --largest-at "" \
    --json out/demo/decode-bench.json
fi
