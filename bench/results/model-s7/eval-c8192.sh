#!/usr/bin/env bash
# Session 7, real-model call 3 of 3 (after real-part.sh a and b): does calibrating at the
# context the cache is used at help? GPU perplexity over all of eval.txt at ctx 8192 (and 60
# windows at 2048) with codebooks calibrated at ctx 2048 (session 6's) and at ctx 8192 (same
# 16,384 calibration tokens), paper's λ (max) and balanced λ, K d4b8 / V d4b8, 4 sinks,
# newest 128 in fp16.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH
V=/root/vi; cp .carry/m6/c/mpart-* .carry/m6/c/x/* $V/; export VECINFER_CACHE_DIR=$V/cache
M=$V/cache/models/SmolLM2-135M-Instruct.Q4_1.gguf; mkdir -p $V/cache/models
[ -s $M ] || cat $V/mpart-aa $V/mpart-ab $V/mpart-ac | xz -d > $M; sha256sum $M | cut -c1-16
xz -dc $V/vecinfer-s7.xz > $V/vi; chmod +x $V/vi
B=$V/vi; T=$V/eval.txt
ev() { local name=$1; shift; timeout 150 $B eval --model $M --device cuda --text $T --sinks 4 --json $OUT/eval-$name.json "$@" > $OUT/eval-$name.txt 2>&1; echo "eval $name rc $?"; grep -E "^(fp16|vq|vecinfer)" $OUT/eval-$name.txt | cut -c1-120; }
ev c8192-cal2k-max --ctx 8192 --codebooks $V/cb-d4b8-d4b8-layer-max.safetensors --methods fp16,vecinfer
ev c8192-cal2k-balanced --ctx 8192 --codebooks $V/cb-d4b8-d4b8-layer-balanced.safetensors --methods vecinfer
ev c8192-cal8k-max --ctx 8192 --codebooks $V/cb-d4b8-d4b8-layer-c8192-max.safetensors --methods vecinfer
ev c8192-cal8k-balanced --ctx 8192 --codebooks $V/cb-d4b8-d4b8-layer-c8192-balanced.safetensors --methods vecinfer
ev c2048-cal8k-max --codebooks $V/cb-d4b8-d4b8-layer-c8192-max.safetensors --methods vecinfer
ev c2048-cal8k-balanced --codebooks $V/cb-d4b8-d4b8-layer-c8192-balanced.safetensors --methods vecinfer
cd $OUT && tar czf eval-c8192.tgz eval-*.json eval-*.txt && rm -f eval-*.json eval-*.txt
