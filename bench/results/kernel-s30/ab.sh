#!/usr/bin/env bash
# Session 30, H200: the fp16 tokens on fp16_split (old: the split holding the last coded row,
# session 29's landed form) against the last split (new: splits - 1), interleaved rounds,
# default configs, SmolLM2's pages with the 4 x 131072 owed since session 29, and the t512 w4
# unbounded winner shape; every row verified against the CPU reference by `bench`.
# Usage: ab.sh ROUNDS... (after tests.sh put the binaries in /tmp/r).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc
R=/tmp/r
SMOL="--heads 9 --kv-heads 3 --head-dim 64 --codecs d4b8/d4b8 --runs 50"
LL="--codecs d4b8/d4b8 --runs 50"
for round in "$@"; do for v in old new; do
  s=$(date +%s)
  timeout 150 $R/vi-$v bench $SMOL --shapes 1x2048,1x32768,8x32768,64x8192,4x131072 --layouts paged64 > $OUT/smolpg-$v-$round.txt 2>&1
  timeout 150 $R/vi-$v bench $LL --shapes 1x8192,1x32768,1x131072,8x32768,64x8192 > $OUT/llama-$v-$round.txt 2>&1
  timeout 100 $R/vi-$v bench $LL --shapes 1x32768,8x32768 --tile 512 --warps 4 --min-blocks 0 > $OUT/t512-$v-$round.txt 2>&1
  echo "round $round $v ($(( $(date +%s) - s )) s):"; for f in smolpg llama t512; do echo "$f $(grep -hE "FAIL|rror" $OUT/$f-$v-$round.txt | head -2) $(grep -hoE "rel err [0-9.e-]+" $OUT/$f-$v-$round.txt | head -1) $(grep -hE "^  [0-9]+x[0-9]+: " $OUT/$f-$v-$round.txt | awk '{printf "%s %s  ", $1, $2}')"; done
done; done
