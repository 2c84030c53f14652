#!/usr/bin/env bash
# Session 17, H100: the two parts of the change apart. old = commit 9265524; a = the fp16 tokens
# on the remainder split only; b = the lengths read before the query transform only; new = both.
# Whole decode steps with the shipped file's configs (each binary's own fingerprint written into
# a copy), and the kernel alone with the 4 x 128k key's winner (t256 w4 r16 paged64).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
R=/tmp/r; mkdir -p $R
xz -dc .carry/s16/vi.xz > $R/vi-old
for v in new a b; do n=vi-$v; [ $v = new ] && n=vi; xz -dc .carry/s17/$n.xz > $R/vi-$v; done; chmod +x $R/vi-*
F=tuned-configs/nvidia-h100-80gb-hbm3.json
fp() { case $1 in old) echo a8b35000274d3d92;; new) echo ce074afb00c289fb;; a) echo acc4c5c837d407ba;; b) echo a959c0443eade9e9;; esac; }
for v in old new a b; do sed "s/\"codegen\": \"a8b35000274d3d92\"/\"codegen\": \"$(fp $v)\"/" $F > $R/file-$v.json; done
SMOL="--heads 9 --kv-heads 3 --head-dim 64 --codecs d4b8/d4b8 --residual 128 --runs 50"
for round in 1 2; do for v in old a b new; do
  timeout 60 $R/vi-$v bench $SMOL --shapes 1x131072,4x131072,4x32768 --layouts paged64 --tile 256 --warps 4 --replicas 16 --direct-codes true > $OUT/bench-$v-$round.txt 2>&1
  echo "kernel $v $round: $(grep -hE "FAIL|error|^  [0-9]+x[0-9]+: " $OUT/bench-$v-$round.txt | tr -s ' ' | tr '\n' ' ')"
done; done
for round in 1 2; do for v in old a b new; do
  VECINFER_TUNED_CONFIGS=$R/file-$v.json timeout 150 $R/vi-$v decode-bench --random-weights --caches d4b8/d4b8 --batches 1,4 --contexts 32768,131072 --largest-at= --steps 30 \
    --json $OUT/steps-$v-$round.json > $OUT/steps-$v-$round.txt 2>&1
  echo "steps $v $round rc $?: $(grep -E '^vecinfer .* x ' $OUT/steps-$v-$round.txt | sed -E 's/^vecinfer.* ([0-9]+) x +([0-9]+): eager ([0-9.]+) ms, graph ([0-9.]+) ms.*/\1x\2:\4/' | tr '\n' ' ')"
done; done
grep -h "tuned for" $OUT/steps-*-1.txt | cut -c1-220 | sort | uniq -c | head
tar czf $OUT/ab2.tgz -C $OUT $(cd $OUT && ls *.txt *.json) && (cd $OUT && rm -f *.txt *.json)
