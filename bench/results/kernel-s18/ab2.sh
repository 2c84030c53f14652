#!/usr/bin/env bash
# Session 18: old (.carry/s17, commit 7ca54e4) against new (the codebook copy and the query's
# butterflies of ab.sh) on the GPU this runs on. The kernel alone (bench, verified first) for
# the paged default that now spills 12 bytes instead of 8 (d128 g4 pg64, three blocks), and
# whole decode steps: the VQ cache with the shipped file (for new, a copy carrying its
# fingerprint) and the FP16 cache at its fastest tiling by steps (issue 12's 1 x 128k ratio).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
R=/tmp/r; mkdir -p $R; C=.carry/s18
xz -dc $C/vi-old.xz > $R/vi-old; xz -dc $C/vi.xz > $R/vi-new; chmod +x $R/*
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
F=tuned-configs/nvidia-h100-80gb-hbm3.json; nvidia-smi -L | grep -q H200 && F=tuned-configs/nvidia-h200.json
sed "s/\"codegen\": \"8034b0db89fcd82b\"/\"codegen\": \"$(cat $C/fp-new.txt)\"/" $F > $R/fp-new.json
for round in 1 2; do for v in old new; do
  timeout 60 $R/vi-$v bench --codecs d4b8/d4b8 --shapes 1x32768,1x131072,8x32768,64x8192 --layouts paged64 --runs 50 > $OUT/bench-pg64-$v-$round.txt 2>&1
  timeout 60 $R/vi-$v bench --heads 9 --kv-heads 3 --head-dim 64 --codecs d4b8/d4b8 --shapes 1x32768,64x8192,256x2048 --layouts paged64 --runs 50 > $OUT/bench-smol-pg64-$v-$round.txt 2>&1
  echo "round $round $v:"; grep -hE "verified|FAIL|error|^  [0-9]+x[0-9]+: " $OUT/bench-*-$v-$round.txt | cut -c1-140
done; done
for round in 1 2; do for v in old new; do
  file=$F; [ $v != old ] && file=$R/fp-$v.json
  VECINFER_TUNED_CONFIGS=$file timeout 150 $R/vi-$v decode-bench --random-weights --caches d4b8/d4b8 --batches 1,4 --contexts 8192,131072 --largest-at= --steps 30 \
    --json $OUT/steps-$v-$round.json > $OUT/steps-$v-$round.txt 2>&1; echo "steps $v $round rc $?"
  grep -E "^vecinfer.* x " $OUT/steps-$v-$round.txt | cut -c1-150
done; done
VECINFER_TUNED_CONFIGS=$R/fp-new.json timeout 240 $R/vi-new decode-bench --random-weights --caches fp16 --batches 1 --contexts 8192,131072 --largest-at= --steps 30 --tune-fp16 steps \
  --json $OUT/steps-fp16.json > $OUT/steps-fp16.txt 2>&1; echo "fp16 rc $?"; grep -E " x +[0-9]+: " $OUT/steps-fp16.txt | cut -c1-150
tar czf $OUT/logs.tgz -C $OUT $(cd $OUT && ls *.log *.txt) && (cd $OUT && rm -f *.log *.txt)
