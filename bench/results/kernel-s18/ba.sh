#!/usr/bin/env bash
# Session 18, H100: byte addresses (8-bit codes of 4-dim centroids, 16 or 32 copies: the code's
# byte permute builds the whole shared-memory offset, the books interleaved per entry with 16
# copies). gpu_attention on the new binary, then the set-up binary (.carry/s18/vi.xz, "new")
# against it ("ba"), interleaved, kernel alone, verified against the CPU reference first.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
R=/tmp/r; mkdir -p $R; C=.carry/s18c
for v in new ba; do xz -dc $C/vi-$v.xz > $R/vi-$v; done; xz -dc $C/gpu_attention.xz > $R/gpu_attention; chmod +x $R/*
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
VECINFER_REQUIRE_GPU=1 timeout 150 $R/gpu_attention --include-ignored --test-threads 1 > $OUT/gpu_attention.log 2>&1; echo "gpu_attention rc $?: $(grep -E '^test result' $OUT/gpu_attention.log)"
SMOL="--heads 9 --kv-heads 3 --head-dim 64 --codecs d4b8/d4b8 --residual 128 --runs 30"
for round in 1 2; do for v in new ba; do
  timeout 40 $R/vi-$v bench --codecs d4b8/d4b8 --shapes 1x32768,8x32768,64x8192,128x4096 --runs 30 > $OUT/b-llama-$v-$round.txt 2>&1
  timeout 30 $R/vi-$v bench --codecs d4b8/d4b8 --shapes 1x131072,64x8192 --layouts paged64 --runs 30 > $OUT/b-llama-pg-$v-$round.txt 2>&1
  timeout 30 $R/vi-$v bench $SMOL --shapes 1x131072 --layouts paged64 --tile 512 --warps 8 --replicas 16 --min-blocks 2 --direct-codes true > $OUT/b-smol-r16-$v-$round.txt 2>&1
  timeout 30 $R/vi-$v bench $SMOL --shapes 64x8192,256x2048 --layouts paged64 > $OUT/b-smol-$v-$round.txt 2>&1
  echo "round $round $v:"; grep -hE "verified|FAIL|error|^  [0-9]+x[0-9]+: " $OUT/b-*-$v-$round.txt | cut -c1-140
done; done
tar czf $OUT/logs.tgz -C $OUT $(cd $OUT && ls *.log *.txt) && (cd $OUT && rm -f *.log *.txt)
