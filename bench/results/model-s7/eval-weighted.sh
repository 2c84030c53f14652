#!/usr/bin/env bash
# Session 7, real-model call 3 of 3 (after real-part.sh a and b): attention- and Fisher-weighted
# k-means (branch weighted-kmeans, with the k-means iteration fix) against unweighted, all 60
# windows of eval.txt at ctx 2048 on the GPU, K d4b8 / V d4b8, residual 128, 4 sinks. Then the
# engine's checks on the small model (the skinny kernels after their refactor).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH
V=/root/vi; cp .carry/m6/c/mpart-* .carry/m6/c/x/* $V/; export VECINFER_CACHE_DIR=$V/cache
M=$V/cache/models/SmolLM2-135M-Instruct.Q4_1.gguf; mkdir -p $V/cache/models
[ -s $M ] || cat $V/mpart-aa $V/mpart-ab $V/mpart-ac | xz -d > $M; sha256sum $M | cut -c1-16
xz -dc $V/vecinfer-s7.xz > $V/vi; chmod +x $V/vi
B=$V/vi; T=$V/eval.txt
ev() { local name=$1; shift; timeout 150 $B eval --model $M --device cuda --text $T --sinks 4 --json $OUT/eval-$name.json "$@" > $OUT/eval-$name.txt 2>&1; echo "eval $name rc $?"; grep -E "^(fp16|vq|vecinfer) +ppl" $OUT/eval-$name.txt | cut -c1-60; }
for w in balanced-wnone balanced-wattention balanced-wfisher max-wnone max-wattention; do
  ev c2048-$w --codebooks $V/cb-d4b8-d4b8-layer-$w.safetensors --methods vecinfer
done
timeout 120 $B gpu-check --json $OUT/check-tiny.json > $OUT/check-tiny.txt 2>&1; echo "gpu-check rc $?"; grep -E "passed|FAIL" $OUT/check-tiny.txt | cut -c1-120
cd $OUT && tar czf eval-weighted.tgz eval-*.json eval-*.txt check-tiny.* && rm -f eval-*.json eval-*.txt check-tiny.*
