#!/usr/bin/env bash
# Session 29, H200: main (180008a) against a change, interleaved rounds, default configs and the
# t512 w4 unbounded winner shape; every row verified against the CPU reference by `bench`.
# Carry .carry/s29k: vi-old.xz (180008a), vi-new.xz (the change under test). Run four times, each
# with its own vi-new build (outputs in the folder named): the first tile's loads before the
# query transform (ab-h200), the fused split merge (ab2-h200), the fp16 slabs dealt to every
# split (ab3-h200), the fp16 tokens on fp16_split (ab4-h200, landed).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc
R=/tmp/r; mkdir -p $R; for b in vi-old vi-new; do xz -dc .carry/s29k/$b.xz > $R/$b; done; chmod +x $R/*
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
SMOL="--heads 9 --kv-heads 3 --head-dim 64 --codecs d4b8/d4b8 --runs 50"
LL="--codecs d4b8/d4b8 --runs 50"
for round in 1 2 3; do for v in old new; do
  timeout 120 $R/vi-$v bench $SMOL --shapes 1x2048,1x8192,1x32768,8x32768,64x8192 --layouts paged64 > $OUT/smolpg-$v-$round.txt 2>&1
  timeout 120 $R/vi-$v bench $LL --shapes 1x2048,1x8192,1x32768,1x131072,8x32768,64x8192,128x4096 > $OUT/llama-$v-$round.txt 2>&1
  timeout 120 $R/vi-$v bench $LL --shapes 1x32768,1x131072,8x32768,64x8192 --tile 512 --warps 4 --min-blocks 0 > $OUT/t512-$v-$round.txt 2>&1
  echo "round $round $v:"; for f in smolpg llama t512; do echo "$f $(grep -hE "FAIL|rror" $OUT/$f-$v-$round.txt | head -2) $(grep -hoE "rel err [0-9.e-]+" $OUT/$f-$v-$round.txt | head -1) $(grep -hE "^  [0-9]+x[0-9]+: " $OUT/$f-$v-$round.txt | awk '{printf "%s %s  ", $1, $2}')"; done
done; done
tar czf $OUT/ab.tgz -C $OUT $(cd $OUT && ls *.txt) && (cd $OUT && rm -f *.txt)
