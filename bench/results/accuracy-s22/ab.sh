#!/usr/bin/env bash
# Session 22, H200, call 8: the fp16-window kernels of the final build (vi) against main before
# the session (vi-old, session 21's binary), SmolLM2's shape, 3 interleaved rounds (call 7's
# single round had the final build 2-7% slower at SmolLM2's shape; call 1's two rounds, on the
# first int8 build, had them even).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
R=/root/s22; mkdir -p $R; for b in vi vi-old; do [ -x $R/$b ] || { xz -dc .carry/s22/$b.xz > $R/$b; chmod +x $R/$b; }; done
SMOL="--heads 9 --kv-heads 3 --head-dim 64 --codecs d4b8/d4b8 --runs 50"
for round in 1 2 3; do for v in new old; do b=$R/vi; [ $v = old ] && b=$R/vi-old
  timeout 90 $b bench $SMOL --shapes 1x32768,8x32768,64x8192,256x2048 > $OUT/smol-$v-$round.txt 2>&1
  timeout 90 $b bench $SMOL --shapes 1x32768,64x8192 --layouts paged64 > $OUT/smolpg-$v-$round.txt 2>&1
  echo "round $round $v:"; for f in smol smolpg; do echo "$f $(grep -hE "FAIL|rror" $OUT/$f-$v-$round.txt | head -2) $(grep -hE "^  [0-9]+x[0-9]+: " $OUT/$f-$v-$round.txt | awk '{printf "%s %s  ", $1, $2}')"; done
done; done
tar czf $OUT/ab.tgz -C $OUT $(cd $OUT && ls *.txt) && (cd $OUT && rm -f *.txt)
