#!/usr/bin/env bash
# Session 5, after sizing the VQ cache's split scratch for every plan (the ctx 8192 graph
# failure): all of eval.txt at ctx 8192 on the GPU with CUDA graphs, every method, 15 windows
# in one batch (model parts 1-4 carried before, `part.sh`).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH
C=$PWD/.carry/m5/p5; V=/root/vi; export VECINFER_CACHE_DIR=$V/cache
M=$V/cache/models/SmolLM2-135M-Instruct.Q4_1.gguf; mkdir -p $V/cache/models
[ -f $M ] || cat $V/part-aa $V/part-ab $V/part-ac $V/part-ad $C/part-ae | xz -d > $M; sha256sum $M
xz -dc $C/vecinfer.xz > $V/vecinfer; chmod +x $V/vecinfer
timeout 200 $V/vecinfer eval --model $M --device cuda --text $C/eval.txt --codebooks bench/results/accuracy/cb-d4b8-d4b8-layer.safetensors \
  --ctx 8192 --methods fp16,vq,vq+smooth,vq+hadamard,vecinfer --json $OUT/eval-8192.json > $OUT/eval-8192.txt 2>&1; echo "eval 8192 rc $?"
tail -n 9 $OUT/eval-8192.txt
