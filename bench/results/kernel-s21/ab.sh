#!/usr/bin/env bash
# Session 21, H200: hinted sub-word code loads (ld.global.nc.L1::no_allocate.u16/.u8 for 1- and
# 2-byte spans: SmolLM2's keys and values, 8-dim value centroids at head dim 128) against main
# (d52809e), interleaved rounds; then the GPU tests and gpu-check on the new binary.
# Binaries in .carry/s21: vi-old (d52809e), vi-u16 (the change), gpu_attention, gpu_paged.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
R=/tmp/r; mkdir -p $R; for b in vi-old vi-u16 gpu_attention gpu_paged; do xz -dc .carry/s21/$b.xz > $R/$b; done; chmod +x $R/*
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
SMOL="--heads 9 --kv-heads 3 --head-dim 64 --codecs d4b8/d4b8 --runs 50"
for round in 1 2 3; do for v in old u16; do
  timeout 90 $R/vi-$v bench $SMOL --shapes 1x32768,1x131072,8x32768,64x8192,256x2048 > $OUT/smol-$v-$round.txt 2>&1
  timeout 90 $R/vi-$v bench $SMOL --shapes 1x32768,64x8192,256x2048 --layouts paged64 > $OUT/smolpg-$v-$round.txt 2>&1
  timeout 90 $R/vi-$v bench --codecs d8b12/d8b8,d4b8/d4b8 --shapes 1x131072,8x32768,64x8192 --runs 50 > $OUT/llama-$v-$round.txt 2>&1
  echo "round $round $v:"; for f in smol smolpg llama; do echo "$f $(grep -hE "FAIL|rror" $OUT/$f-$v-$round.txt | head -2) $(grep -hoE "rel err [0-9.e-]+" $OUT/$f-$v-$round.txt | head -1) $(grep -hE "^  [0-9]+x[0-9]+: " $OUT/$f-$v-$round.txt | awk '{printf "%s %s  ", $1, $2}')"; done
done; done
for t in gpu_attention gpu_paged; do
  VECINFER_REQUIRE_GPU=1 timeout 200 $R/$t --include-ignored --test-threads 1 > $OUT/$t.log 2>&1; echo "$t rc $?: $(grep -E '^test result' $OUT/$t.log)"
done
timeout 120 $R/vi-u16 gpu-check > $OUT/check.txt 2>&1; echo "gpu-check rc $?: $(grep -cE '^PASS' $OUT/check.txt) PASS"; grep -E "^FAIL" $OUT/check.txt | cut -c1-200
tar czf $OUT/ab.tgz -C $OUT $(cd $OUT && ls *.txt *.log) && (cd $OUT && rm -f *.txt *.log)
