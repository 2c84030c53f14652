#!/usr/bin/env bash
# Session 20: the main loop's overheads, A/B/C/D on the H100, interleaved rounds. Binaries in
# .carry/s20: vi (main, ea80caf), vi-na (code loads L1::no_allocate when VECINFER_PROTO=na),
# vi-lazy (no_allocate, and the output rescaled only when a head's max grows by more than 8;
# VECINFER_PROTO=whole adds an unmasked softmax for whole tiles).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
R=/tmp/r; mkdir -p $R; for b in vi vi-na vi-lazy; do xz -dc .carry/s20/$b.xz > $R/$b; done; chmod +x $R/*
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
SMOL="--heads 9 --kv-heads 3 --head-dim 64 --codecs d4b8/d4b8 --residual 128 --runs 50"
for round in 1 2; do for v in ${VERSIONS:-old na lazy lazywhole}; do
  case $v in old) B=vi; P=;; na) B=vi-na; P=na;; lazy) B=vi-lazy; P=;; lazywhole) B=vi-lazy; P=whole;; esac
  export VECINFER_PROTO=$P
  timeout 90 $R/$B bench --codecs d4b8/d4b8 --shapes 1x32768,1x131072,8x32768,64x8192,128x4096 --runs 50 > $OUT/llama-$v-$round.txt 2>&1
  timeout 90 $R/$B bench --codecs d4b8/d4b8 --shapes 8x32768,64x8192 --tile 512 --warps 4 --replicas 16 --direct-codes true --min-blocks 0 --runs 50 > $OUT/llama512-$v-$round.txt 2>&1
  timeout 90 $R/$B bench $SMOL --shapes 1x32768,64x8192,256x2048 --layouts paged64 > $OUT/smolpg-$v-$round.txt 2>&1
  echo "round $round $v:"; for f in llama llama512 smolpg; do echo "$f $(grep -hE "FAIL|rror" $OUT/$f-$v-$round.txt | head -2) $(grep -hoE "rel err [0-9.e-]+" $OUT/$f-$v-$round.txt | head -1) $(grep -hE "^  [0-9]+x[0-9]+: " $OUT/$f-$v-$round.txt | awk '{printf "%s %s  ", $1, $2}')"; done
done; done
tar czf $OUT/${TAR:-ab2}.tgz -C $OUT $(cd $OUT && ls *.txt) && (cd $OUT && rm -f *.txt)
