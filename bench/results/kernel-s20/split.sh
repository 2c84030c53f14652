#!/usr/bin/env bash
# Session 20, H100: the query's low part in the score mma's padding rows (8-15), so that
# split_query costs no second mma. Binaries in .carry/s20s: vi-head (50eedf1, no_allocate) and
# vi-pk (the packed parts). Each with split_query false and true, interleaved rounds; verified
# against the CPU reference first (the worst error shows what the low part buys).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
R=/tmp/r; mkdir -p $R; for b in vi-head vi-pk; do xz -dc .carry/s20s/$b.xz > $R/$b; done; chmod +x $R/*
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
SMOL="--heads 9 --kv-heads 3 --head-dim 64 --codecs d4b8/d4b8 --residual 128 --runs 50"
for round in 1 2; do for b in vi-head vi-pk; do for sq in false true; do
  v=$b-$sq
  timeout 90 $R/$b bench --codecs d4b8/d4b8 --shapes 1x32768,1x131072,8x32768,64x8192,128x4096 --split-query $sq --runs 50 > $OUT/llama-$v-$round.txt 2>&1
  timeout 90 $R/$b bench --codecs d4b8/d4b8 --shapes 8x32768,64x8192 --tile 512 --warps 4 --replicas 16 --direct-codes true --min-blocks 0 --split-query $sq --runs 50 > $OUT/llama512-$v-$round.txt 2>&1
  timeout 90 $R/$b bench $SMOL --shapes 1x32768,64x8192,256x2048 --layouts paged64 --split-query $sq > $OUT/smolpg-$v-$round.txt 2>&1
  echo "round $round $v:"; for f in llama llama512 smolpg; do echo "$f $(grep -hE "FAIL|rror" $OUT/$f-$v-$round.txt | head -2) $(grep -hoE "rel err [0-9.e-]+" $OUT/$f-$v-$round.txt | head -1) $(grep -hE "^  [0-9]+x[0-9]+: " $OUT/$f-$v-$round.txt | awk '{printf "%s %s  ", $1, $2}')"; done
done; done; done
tar czf $OUT/${TAR:-split}.tgz -C $OUT $(cd $OUT && ls *.txt) && (cd $OUT && rm -f *.txt)
