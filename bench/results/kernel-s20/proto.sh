#!/usr/bin/env bash
# Session 20, a timing prototype: byte centroids (7 bits, z + s·u on a fixed grid) read as f16
# subnormals, against the shipped f16 centroids; same binary, VECINFER_BYTE_BOOKS set or not.
# Round 2 (VERSIONS k v kv): byte centroids for keys only, values only, or both.
# The byte kernel's verification error is the grid's (the prototype does not snap the CPU's
# books), so it is printed, not enforced.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
R=/tmp/r; mkdir -p $R; xz -dc .carry/s20/vi-proto.xz > $R/vi; chmod +x $R/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
SMOL="--heads 9 --kv-heads 3 --head-dim 64 --codecs d4b8/d4b8 --residual 128 --runs 50"
for round in 1 2; do for v in ${VERSIONS:-f16 k v kv}; do
  if [ $v != f16 ]; then export VECINFER_BYTE_BOOKS=$v; else unset VECINFER_BYTE_BOOKS; fi
  timeout 90 $R/vi bench --codecs d4b8/d4b8 --shapes ${LLAMA:-1x32768,1x131072,8x32768,64x8192,128x4096} --runs 50 > $OUT/llama-$v-$round.txt 2>&1
  timeout 90 $R/vi bench --codecs d4b8/d4b8 --shapes 8x32768,64x8192 --replicas 8 --runs 50 > $OUT/llama-r8-$v-$round.txt 2>&1
  timeout 90 $R/vi bench $SMOL --shapes 1x32768,64x8192,256x2048 > $OUT/smol-$v-$round.txt 2>&1
  echo "round $round $v:"; grep -hE "verified|FAIL|rror|^  [0-9]+x[0-9]+: " $OUT/*-$v-$round.txt | cut -c1-150
done; done
tar czf $OUT/${TAR:-proto}.tgz -C $OUT $(cd $OUT && ls *.txt) && (cd $OUT && rm -f *.txt)
