#!/usr/bin/env bash
# Session 8, real-model call 3 of 3 (after session 7's real-part.sh a and b), final binary (no
# wide tiles): the 2-bit GPU perplexity against the CPU on 2 and on 5 windows, with each
# window's GPU NLL in the JSON: do windows 0 and 1 score the same at batch 2 and batch 5?
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH
V=/root/vi; cp .carry/m6/c/mpart-* $V/; export VECINFER_CACHE_DIR=$V/cache
M=$V/cache/models/SmolLM2-135M-Instruct.Q4_1.gguf; mkdir -p $V/cache/models
[ -s $M ] || cat $V/mpart-aa $V/mpart-ab $V/mpart-ac | xz -d > $M; sha256sum $M | cut -c1-16
xz -dc .carry/s8c/vi-final.xz > $V/vf && chmod +x $V/vf
for w in ${WINDOWS:-2 5}; do
  timeout 250 $V/vf gpu-check --skip-tiny --model $M --codebooks $V/cb-d4b8-d4b8-layer-max.safetensors --text $V/eval.txt --ctx 2048 --windows $w --sinks 4 \
    --json $OUT/check-w$w.json > $OUT/check-w$w.txt 2>&1; echo "windows $w rc $?"
  grep "perplexity" $OUT/check-w$w.txt | cut -c1-170
  python3 -c "import json,sys; d=json.load(open('$OUT/check-w$w.json')); [print(c['name'][:40], [round(x,3) for x in c['values']['gpu_graph']['window_nll']]) for c in d if c['name'].startswith('perplexity')]"
done
