#!/usr/bin/env bash
# Session 13 (after part.sh aa .. ae): per-head key codebooks at 3 bits (calibrate-head.log:
# K d4b12 per (layer, KV head), V d4b8 or d4b10, balanced λ, attention weights, ctx 2048 and 8192,
# 96 samples per centroid per layer) against session 10's per-layer file, all of eval.txt on
# the GPU, 4 sinks; FP16 in the same run.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH
V=/root/vi; export VECINFER_CACHE_DIR=$V/cache
M=$V/cache/models/SmolLM2-135M-Instruct.Q4_1.gguf; mkdir -p $V/cache/models
[ "$(sha256sum $M 2>/dev/null | cut -c1-16)" = b179c9523d0e6a0f ] || { rm -f $M; cat $V/part-a? | xz -d > $M; }; sha256sum $M | cut -c1-16
xz -dc .carry/s13x/vi.xz > $V/vi && chmod +x $V/vi; cp .carry/s13x/eval.txt .carry/s13x/cb-*.safetensors $V/
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
ev() { local name=$1; shift; timeout 150 $V/vi eval --model $M --device cuda --text $V/eval.txt --sinks 4 --json $OUT/eval-$name.json "$@" > $OUT/eval-$name.txt 2>&1; echo "eval $name rc $?"; grep -E "^(vecinfer|fp16) " $OUT/eval-$name.txt | tail -1 | cut -c1-140; }
ev c2048-fp16 --ctx 2048 --methods fp16
ev c2048-layer-d4b12-d4b8-r64 --ctx 2048 --residual 64 --methods vecinfer --codebooks $V/cb-d4b12-d4b8-layer-mix-balanced.safetensors
for r in 32 64; do ev c2048-head-d4b12-d4b8-r$r --ctx 2048 --residual $r --methods vecinfer --codebooks $V/cb-d4b12-d4b8-head-mix-balanced-spc96.safetensors; done
[ -f $V/cb-d4b12-d4b10-head-mix-balanced-spc96.safetensors ] && for r in 16 32; do ev c2048-head-d4b12-d4b10-r$r --ctx 2048 --residual $r --methods vecinfer --codebooks $V/cb-d4b12-d4b10-head-mix-balanced-spc96.safetensors; done
ev c8192-head-d4b12-d4b8-r128 --ctx 8192 --residual 128 --methods vecinfer --codebooks $V/cb-d4b12-d4b8-head-mix-balanced-spc96.safetensors
cd $OUT && tar czf eval.tgz eval-* && rm -f eval-*
