#!/usr/bin/env bash
# Session 6, model call 3 of 3: the decode benchmark after this session's kernel work (FP16
# cache vs 2-bit VQ at 1 x 128k and 64 x 8k, random weights of SmolLM2's shape), then GPU
# perplexity over all of eval.txt with 4 fp16 sinks: issue 15's methods and bit budgets at
# ctx 2048 (60 windows), 4096 and 8192, and the GPU-vs-CPU check of issue 12 on 16 windows.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH
V=/root/vi; cp .carry/m6/c/mpart-* .carry/m6/c/x/* $V/; export VECINFER_CACHE_DIR=$V/cache
M=$V/cache/models/SmolLM2-135M-Instruct.Q4_1.gguf; mkdir -p $V/cache/models
[ -f $M ] || cat $V/mpart-aa $V/mpart-ab $V/mpart-ac | xz -d > $M; sha256sum $M | cut -c1-16
xz -dc $V/vecinfer.xz > $V/vi; chmod +x $V/vi
B=$V/vi; T=$V/eval.txt
timeout 150 $B decode-bench --random-weights --caches fp16,d4b8/d4b8 --batches 1,64 --contexts 8192,131072 --largest-at "" \
  --json $OUT/decode-bench.json > $OUT/decode-bench.txt 2>&1; echo "decode-bench rc $?"
grep -E "^\s*(fp16|vecinfer)" $OUT/decode-bench.txt | cut -c1-150
ev() { local name=$1; shift; timeout 120 $B eval --model $M --device cuda --text $T --sinks 4 --json $OUT/eval-$name.json "$@" > $OUT/eval-$name.txt 2>&1; echo "eval $name rc $?"; grep -E "^(fp16|vq|vecinfer)" $OUT/eval-$name.txt | cut -c1-120; }
# issue 12: the GPU against the CPU reference, 16 windows, the session-5 codebooks (CPU numbers computed beside)
ev gpu-16w-s4 --codebooks bench/results/accuracy/cb-d4b8-d4b8-layer.safetensors --max-windows 16 --methods vq,vq+smooth,vq+hadamard,vecinfer
# issue 15: ctx 2048, all 60 windows
ev c2048-max-r128 --codebooks $V/cb-d4b8-d4b8-layer-max.safetensors --methods fp16,vq,vq+hadamard,vecinfer
ev c2048-balanced-r128 --codebooks $V/cb-d4b8-d4b8-layer-balanced.safetensors --methods vecinfer
ev c2048-balanced-r32 --codebooks $V/cb-d4b8-d4b8-layer-balanced.safetensors --residual 32 --methods vecinfer
ev c2048-d4b12d4b8-r64 --codebooks $V/cb-d4b12-d4b8-layer-balanced.safetensors --residual 64 --methods vecinfer
ev c2048-d4b12d8b8-r128 --codebooks $V/cb-d4b12-d8b8-layer-balanced.safetensors --methods vecinfer
ev c2048-d4b8d8b8-r64 --codebooks $V/cb-d4b8-d8b8-layer-balanced.safetensors --residual 64 --methods vecinfer
ev c2048-d4b10d8b8-r32 --codebooks $V/cb-d4b10-d8b8-layer-balanced.safetensors --residual 32 --methods vecinfer
ev c2048-d8b12d8b8-r32 --codebooks $V/cb-d8b12-d8b8-layer-balanced.safetensors --residual 32 --methods vecinfer
# issue 15: how the loss grows with context (all of eval.txt at each)
ev c4096-max-r128 --ctx 4096 --codebooks $V/cb-d4b8-d4b8-layer-max.safetensors --methods fp16,vecinfer
ev c4096-balanced-r128 --ctx 4096 --codebooks $V/cb-d4b8-d4b8-layer-balanced.safetensors --methods vecinfer
ev c8192-max-r128 --ctx 8192 --codebooks $V/cb-d4b8-d4b8-layer-max.safetensors --methods fp16,vecinfer
ev c8192-balanced-r128 --ctx 8192 --codebooks $V/cb-d4b8-d4b8-layer-balanced.safetensors --methods vecinfer
ev c8192-d4b12d4b8-r64 --ctx 8192 --codebooks $V/cb-d4b12-d4b8-layer-balanced.safetensors --residual 64 --methods vecinfer
cd $OUT && tar czf all.tgz *.txt *.json && rm -f *.txt *.json
