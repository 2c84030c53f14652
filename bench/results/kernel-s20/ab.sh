#!/usr/bin/env bash
# Session 20: A/B of one prototype binary (.carry/s20/$BIN.xz, default vi-na) with the change off
# (base) and on (VECINFER_PROTO=$ON, default na: code loads with L1::no_allocate). Kernel
# alone, verified against the CPU reference first, interleaved rounds.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
R=/tmp/r; mkdir -p $R; xz -dc .carry/s20/${BIN:-vi-na}.xz > $R/vi; chmod +x $R/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
SMOL="--heads 9 --kv-heads 3 --head-dim 64 --codecs d4b8/d4b8 --residual 128 --runs 50"
for round in 1 2; do for v in base ${ON:-na}; do
  if [ $v != base ]; then export VECINFER_PROTO=$v; else unset VECINFER_PROTO; fi
  timeout 90 $R/vi bench --codecs d4b8/d4b8 --shapes 1x32768,1x131072,8x32768,64x8192,128x4096 --runs 50 > $OUT/llama-$v-$round.txt 2>&1
  timeout 90 $R/vi bench --codecs d4b8/d4b8 --shapes 8x32768,64x8192 --tile 512 --warps 4 --replicas 16 --direct-codes true --min-blocks 0 --runs 50 > $OUT/llama512-$v-$round.txt 2>&1
  timeout 90 $R/vi bench --codecs d4b8/d4b8 --shapes 8x32768,64x8192 --layouts paged64 --runs 50 > $OUT/llamapg-$v-$round.txt 2>&1
  timeout 90 $R/vi bench $SMOL --shapes 1x32768,64x8192,256x2048 > $OUT/smol-$v-$round.txt 2>&1
  timeout 90 $R/vi bench $SMOL --shapes 1x32768,64x8192,256x2048 --layouts paged64 > $OUT/smolpg-$v-$round.txt 2>&1
  echo "round $round $v:"; for f in llama llama512 llamapg smol smolpg; do echo "$f $(grep -hE "FAIL|rror" $OUT/$f-$v-$round.txt | head -2) $(grep -hE "^  [0-9]+x[0-9]+: " $OUT/$f-$v-$round.txt | awk '{printf "%s %s  ", $1, $2}')"; done
done; done
tar czf $OUT/${TAR:-ab}.tgz -C $OUT $(cd $OUT && ls *.txt) && (cd $OUT && rm -f *.txt)
