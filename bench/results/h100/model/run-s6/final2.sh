#!/usr/bin/env bash
# Session 6, second model session, call 3 of 3 (parts carried by part2.sh): GPU perplexity
# over all of eval.txt (4 fp16 sinks) for the accuracy exploration's winners: 2.0 bits
# (K d4b8 / V d8b12, residual 32) and ~3 bits (K d4b12 / V d4b8, residual 64, 4x k-means
# samples), at ctx 2048 (60 windows) and 8192 (15 windows).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH
V=/root/vi; cp .carry/m8/c/mpart-* $V/; export VECINFER_CACHE_DIR=$V/cache
M=$V/cache/models/SmolLM2-135M-Instruct.Q4_1.gguf; mkdir -p $V/cache/models
[ -f $M ] || cat $V/mpart-aa $V/mpart-ab $V/mpart-ac | xz -d > $M; sha256sum $M | cut -c1-16
xz -dc $V/vecinfer.xz > $V/vi; chmod +x $V/vi
B=$V/vi; T=$V/eval.txt
ev() { local name=$1; shift; timeout 120 $B eval --model $M --device cuda --text $T --sinks 4 --json $OUT/eval-$name.json "$@" > $OUT/eval-$name.txt 2>&1; echo "eval $name rc $?"; grep -E "^(fp16|vq|vecinfer) +[0-9]" $OUT/eval-$name.txt | cut -c1-120; }
ev c2048-d4b8d8b12-r32 --codebooks $V/cb-d4b8-d8b12-layer-balanced.safetensors --residual 32 --methods vq,vecinfer
ev c2048-d4b12d4b8spc128-r64 --codebooks $V/cb-d4b12-d4b8-layer-balanced-spc128.safetensors --residual 64 --methods vecinfer
ev c8192-d4b8d8b12-r32 --ctx 8192 --codebooks $V/cb-d4b8-d8b12-layer-balanced.safetensors --residual 32 --methods vecinfer
ev c8192-d4b12d4b8spc128-r64 --ctx 8192 --codebooks $V/cb-d4b12-d4b8-layer-balanced-spc128.safetensors --residual 64 --methods vecinfer
cd $OUT && tar czf all.tgz *.txt *.json && rm -f *.txt *.json
