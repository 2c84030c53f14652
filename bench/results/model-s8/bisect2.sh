#!/usr/bin/env bash
# Session 8, real-model call 3 of 3: is the VQ perplexity gap (GPU +0.575% against the CPU on 2
# windows; session 7's real check, before the wide tiles, +0.022%) the 512-token tiles the VQ
# cache takes at head dim 64 and up to 4 sequences? This binary with and without them.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH
V=/root/vi; cp .carry/m6/c/mpart-* $V/; export VECINFER_CACHE_DIR=$V/cache
M=$V/cache/models/SmolLM2-135M-Instruct.Q4_1.gguf; mkdir -p $V/cache/models
[ -s $M ] || cat $V/mpart-aa $V/mpart-ab $V/mpart-ac | xz -d > $M; sha256sum $M | cut -c1-16
for b in vi-n vi-nowide; do xz -dc .carry/s8c/$b.xz > $V/$b && chmod +x $V/$b; done
for b in vi-nowide vi-n; do
  timeout 200 $V/$b gpu-check --skip-tiny --model $M --codebooks $V/cb-d4b8-d4b8-layer-max.safetensors --text $V/eval.txt --ctx 2048 --windows 2 --sinks 4 > $OUT/check-$b.txt 2>&1; echo "$b rc $?"
  grep "perplexity" $OUT/check-$b.txt | cut -c1-200
done
