#!/usr/bin/env bash
# Session 8, real-model call 3 of 3 (after session 7's real-part.sh a and b): the VQ perplexity
# check on SmolLM2 (2 windows of 2048, residual 128, batch 2: skinny projections, wide tiles,
# several splits) failed with this session's kernels (GPU +0.575% against the CPU, session 7
# +0.022%). Which change: session 7's binary, this one, this one with dependent launches off
# (VECINFER_DEPENDENT_LAUNCHES=off), this one with the old split-merge loop.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH
V=/root/vi; cp .carry/m6/c/mpart-* $V/; export VECINFER_CACHE_DIR=$V/cache
M=$V/cache/models/SmolLM2-135M-Instruct.Q4_1.gguf; mkdir -p $V/cache/models
[ -s $M ] || cat $V/mpart-aa $V/mpart-ab $V/mpart-ac | xz -d > $M; sha256sum $M | cut -c1-16
for b in vi-n vi-oldmerge; do xz -dc .carry/s8b/$b.xz > $V/$b && chmod +x $V/$b; done
chk() { local tag=$1 bin=$2; shift 2; env "$@" timeout 150 $V/$bin gpu-check --skip-tiny --model $M --codebooks $V/cb-d4b8-d4b8-layer-max.safetensors --text $V/eval.txt --ctx 2048 --windows 2 --sinks 4 > $OUT/check-$tag.txt 2>&1; echo "$tag rc $?"; grep -E "perplexity vecinfer" $OUT/check-$tag.txt | cut -c1-150; }

chk new vi-n X=1
chk new-nopdl vi-n VECINFER_DEPENDENT_LAUNCHES=off
chk oldmerge vi-oldmerge X=1
