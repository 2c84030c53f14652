#!/usr/bin/env bash
# Session 7, real-model call 3 of 3 (after real-part.sh a and b): the weighted k-means files at
# ctx 8192 (all of eval.txt, 15 windows), before making attention weights a default.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH
V=/root/vi; cp .carry/m6/c/mpart-* .carry/m6/c/x/* $V/; export VECINFER_CACHE_DIR=$V/cache
M=$V/cache/models/SmolLM2-135M-Instruct.Q4_1.gguf; mkdir -p $V/cache/models
[ -s $M ] || cat $V/mpart-aa $V/mpart-ab $V/mpart-ac | xz -d > $M; sha256sum $M | cut -c1-16
xz -dc $V/vecinfer-s7.xz > $V/vi; chmod +x $V/vi
B=$V/vi; T=$V/eval.txt
ev() { local name=$1; shift; timeout 150 $B eval --model $M --device cuda --text $T --sinks 4 --json $OUT/eval-$name.json "$@" > $OUT/eval-$name.txt 2>&1; echo "eval $name rc $?"; grep -E "^(fp16|vq|vecinfer) +ppl" $OUT/eval-$name.txt | cut -c1-60; }
for w in max-wnone max-wattention balanced-wattention; do
  ev c8192-$w --ctx 8192 --codebooks $V/cb-d4b8-d4b8-layer-$w.safetensors --methods vecinfer
done
cd $OUT && tar czf eval-weighted-c8192.tgz eval-* && rm -f eval-*.json eval-*.txt
