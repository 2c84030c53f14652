#!/usr/bin/env bash
# Session 14, H100: a fourth resident block for SmolLM2's 4-warp kernels. A throwaway binary
# (`min-blocks.diff`: VECINFER_MIN_BLOCKS=N adds a min-blocks launch bound to the fused kernel)
# caps the 4-warp kernels at 128 registers (4 blocks of 4 warps by registers; 8 codebook copies
# so that 4 blocks fit shared memory), against the same configs without the bound and the
# default (16 copies, 3 blocks). Kernel alone, default split, two rounds; then decode steps.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s14m
xz -dc $S/vi-mb.xz > /tmp/vi-mb && chmod +x /tmp/vi-mb
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
SH=1x32768,1x131072,8x32768,16x131072,64x8192,64x131072
B="--heads 9 --kv-heads 3 --head-dim 64 --shapes $SH --codecs d4b8/d4b8 --layouts paged64 --runs 30"
for round in 1 2; do
  for v in r16-mb0 r8-mb0 r8-mb4 r4-mb4; do
    r=${v%%-*}; r=${r#r}; mb=${v##*mb}
    VECINFER_MIN_BLOCKS=$mb timeout 150 /tmp/vi-mb bench $B --warps 4 --tile 256 --replicas $r --direct-codes true --json $OUT/bench-$v-r$round.json > $OUT/bench-$v-r$round.txt 2>&1
    echo "$v r$round rc $?: $(grep -E '^ +[0-9]+ +[0-9]+ +d4b8' $OUT/bench-$v-r$round.txt | awk '{print $1"x"$2":"$7}' | tr '\n' ' ')"
  done
done
grep -h "verified\|FAIL\|error" $OUT/bench-*-r1.txt | cut -c1-160 | sort | uniq | head
cd $OUT && tar czf min-blocks.tgz *.json *.txt && rm -f *.json *.txt
