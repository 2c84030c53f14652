#!/usr/bin/env bash
# Session 30, H200: the online merge with its split loop unrolled by 8 (u8: a part's splits in
# one batch of loads up to 8 per part, e.g. 43 splits over 8 parts at 1 x 32768) against the
# landed unroll by 4 (merge), kernel-alone bench in interleaved rounds and the merge kernel
# under Nsight Compute. Carry .carry/s30c (and the model's first part, which this call only
# stores for the real-model test: .carry/m1/gg-part-00).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
R=/tmp/r; mkdir -p $R /root/s30
cp .carry/m1/gg-part-00 /root/s30/ 2>/dev/null
for b in vi-merge vi-u8 gpu_model; do xz -dc .carry/s30c/$b.xz > $R/$b; done; chmod +x $R/*
SMOL="--heads 9 --kv-heads 3 --head-dim 64 --codecs d4b8/d4b8 --runs 50"
LL="--codecs d4b8/d4b8 --runs 50"
for round in 1 2 3; do for v in merge u8; do
  timeout 100 $R/vi-$v bench $SMOL --shapes 1x2048,1x32768,8x32768 --layouts paged64 > $OUT/smolpg-$v-$round.txt 2>&1
  timeout 100 $R/vi-$v bench $LL --shapes 1x2048,1x8192,1x32768,1x131072,8x32768 > $OUT/llama-$v-$round.txt 2>&1
  echo "round $round $v:"; for f in smolpg llama; do echo "$f $(grep -hE "FAIL|rror" $OUT/$f-$v-$round.txt | head -2) $(grep -hoE "rel err [0-9.e-]+" $OUT/$f-$v-$round.txt | head -1) $(grep -hE "^  [0-9]+x[0-9]+: " $OUT/$f-$v-$round.txt | awk '{printf "%s %s  ", $1, $2}')"; done
done; done
for v in merge u8; do for shape in 1x32768 1x131072; do
  ncu -k regex:vq_merge --launch-skip 8 --launch-count 4 --metrics gpu__time_duration.sum \
    $R/vi-$v bench --shapes $shape --codecs d4b8/d4b8 --runs 5 > $OUT/ncu-$v-$shape.txt 2>&1
  echo "ncu $v $shape: $(grep -E "gpu__time_duration" $OUT/ncu-$v-$shape.txt | awk '{print $NF}' | tr '\n' ' ')"
done; done
cd $OUT && tar czf unroll.tgz *.txt && rm -f *.txt
