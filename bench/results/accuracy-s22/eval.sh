#!/usr/bin/env bash
# Session 22, H200, call 3: the int8 window in the GPU engine (`eval --device cuda --window
# int8`) on SmolLM2, 4 sinks, codebooks calibrated at ctx 2048 (session 21's out/win files):
# first 4 windows (to set beside the CPU eval of the same windows), then all of eval.txt at
# ctx 2048. Model assembled from .carry/s22m, s22n (calls 1, 2) and s22p (this call).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
R=/root/s22; M=$R/SmolLM2-135M-Instruct.Q4_1.gguf
[ -f $M ] || cat $R/part-aa $R/part-ab .carry/s22p/part-ac | xz -d > $M; sha256sum $M | cut -c1-16
cp .carry/s22p/eval.txt .carry/s22p/cb2048-*.safetensors $R/
MIX=$R/cb2048-d4b9-d8b10.safetensors; K12=$R/cb2048-d4b12-d4b8.safetensors
ev() { local name=$1; shift; timeout 200 $R/vi eval --model $M --device cuda --text $R/eval.txt --ctx 2048 --sinks 4 --json $OUT/$name.json "$@" > $OUT/$name.txt 2>&1; echo "$name rc $?: $(grep -E "^(vecinfer|fp16) " $OUT/$name.txt | tail -1 | cut -c1-150)"; }
ev w4-mix-r64-int8 --max-windows 4 --methods vecinfer --codebooks $MIX --residual 64 --window int8
ev w4-k12-r128-int8 --max-windows 4 --methods vecinfer --codebooks $K12 --residual 128 --window int8
ev w60-fp16 --methods fp16
ev w60-mix-r64-int8 --methods vecinfer --codebooks $MIX --residual 64 --window int8
ev w60-mix-r32-fp16 --methods vecinfer --codebooks $MIX --residual 32
ev w60-k12-r128-int8 --methods vecinfer --codebooks $K12 --residual 128 --window int8
ev w60-k12-r64-fp16 --methods vecinfer --codebooks $K12 --residual 64
