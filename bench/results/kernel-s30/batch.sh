#!/usr/bin/env bash
# Session 30, H200: the online merge in batches (batch: a part loads up to 8 splits' maxes,
# sums and values, splits past the end predicated off, then rescales once per batch by the
# batch's max) against the landed merge (unroll 4, a rescale per split). Kernel-alone bench in
# interleaved rounds, the merge kernel under Nsight Compute, and whole decode steps of the
# FP16 cache, whose split-K decode (hundreds of splits at batch 1) shares the merge.
# Carry .carry/s30d (vi-merge.xz, vi-batch.xz).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
R=/tmp/r; mkdir -p $R
for b in vi-merge vi-batch; do xz -dc .carry/s30d/$b.xz > $R/$b; done; chmod +x $R/*
SMOL="--heads 9 --kv-heads 3 --head-dim 64 --codecs d4b8/d4b8 --runs 50"
LL="--codecs d4b8/d4b8 --runs 50"
for round in 1 2 3; do for v in merge batch; do
  timeout 100 $R/vi-$v bench $SMOL --shapes 1x2048,1x32768,8x32768 --layouts paged64 > $OUT/smolpg-$v-$round.txt 2>&1
  timeout 100 $R/vi-$v bench $LL --shapes 1x2048,1x8192,1x32768,1x131072,8x32768 > $OUT/llama-$v-$round.txt 2>&1
  echo "round $round $v:"; for f in smolpg llama; do echo "$f $(grep -hE "FAIL|rror" $OUT/$f-$v-$round.txt | head -2) $(grep -hoE "rel err [0-9.e-]+" $OUT/$f-$v-$round.txt | head -1) $(grep -hE "^  [0-9]+x[0-9]+: " $OUT/$f-$v-$round.txt | awk '{printf "%s %s  ", $1, $2}')"; done
done; done
for v in merge batch; do for shape in 1x32768 1x131072; do
  ncu -k regex:vq_merge --launch-skip 8 --launch-count 4 --metrics gpu__time_duration.sum \
    $R/vi-$v bench --shapes $shape --codecs d4b8/d4b8 --runs 5 > $OUT/ncu-$v-$shape.txt 2>&1
  echo "ncu $v $shape: $(grep -E "gpu__time_duration" $OUT/ncu-$v-$shape.txt | awk '{print $NF}' | tr '\n' ' ')"
done; done
for round in 1 2; do for v in merge batch; do
  timeout 100 $R/vi-$v decode-bench --random-weights --caches fp16,d4b8/d4b8 --batches 1 --contexts 8192,32768 --largest-at 0 --steps 20 > $OUT/steps-$v-$round.txt 2>&1
  echo "steps $round $v: $(grep -E "^(fp16|vecinfer)" $OUT/steps-$v-$round.txt | grep -oE "x +[0-9]+: eager [0-9.]+ ms, graph [0-9.]+" | tr '\n' ';')"
done; done
cd $OUT && tar czf batch.tgz *.txt && rm -f *.txt
