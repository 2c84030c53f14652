#!/usr/bin/env bash
# Session 17, H100: the streamed search of large codebooks in the append and flush kernels.
# GPU tests and gpu-check on the new binaries (.carry/s17; the append and flush tests compare
# the codes byte for byte with the CPU's, 4096-entry books included), then old (.carry/s16,
# commit 9265524) against new: `bench` (attention verified against the CPU reference first;
# its append column is the quantize-and-append of one token per sequence against the attention
# step) and whole decode steps with 3-bit and 1.25-bit caches, whose window flush runs the
# search.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
R=/tmp/r; mkdir -p $R
xz -dc .carry/s16/vi.xz > $R/vi-old; xz -dc .carry/s17/vi.xz > $R/vi-new
for b in gpu_attention gpu_paged gpu_append gpu_tuner; do xz -dc .carry/s17/$b.xz > $R/$b; done; chmod +x $R/*
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for t in gpu_append gpu_paged gpu_attention gpu_tuner; do
  VECINFER_REQUIRE_GPU=1 timeout 200 $R/$t --include-ignored --test-threads 1 > $OUT/$t.log 2>&1; echo "$t rc $?: $(grep -E '^test result' $OUT/$t.log)"
done
timeout 120 $R/vi-new gpu-check > $OUT/check.txt 2>&1; echo "gpu-check rc $?: $(grep -cE '^PASS' $OUT/check.txt) PASS"; grep -E "^FAIL" $OUT/check.txt | cut -c1-200
row() { grep -E "^ +[0-9]+ +[0-9]+ +d" $1 | awk '{printf "%s %sx%s %s append %s | ", $3, $1, $2, $8, $(NF-8)}'; echo; }
for round in 1 2; do for v in old new; do
  timeout 150 $R/vi-$v bench --codecs d8b12/d8b8,d4b12/d4b8,d8b12/d8b12,d4b8/d4b8 --shapes 1x32768,1x131072,8x32768,64x8192,128x4096 --runs 30 > $OUT/bench-llama-$v-$round.txt 2>&1
  echo "llama $v $round rc $?"
  timeout 100 $R/vi-$v bench --heads 9 --kv-heads 3 --head-dim 64 --codecs d8b12/d8b8,d4b12/d4b8,d4b8/d4b8 --shapes 1x32768,64x8192,256x2048 --runs 30 > $OUT/bench-smol-$v-$round.txt 2>&1
  echo "smol $v $round rc $?"
done; done
grep -hE "^ +batch|^ +[0-9]+ +[0-9]+ +d" $OUT/bench-llama-old-1.txt | head -3
for round in 1 2; do for v in old new; do
  timeout 150 $R/vi-$v decode-bench --random-weights --caches d4b12/d4b8,d8b12/d8b8,d4b8/d4b8 --batches 1,64 --contexts 8192 --largest-at= --steps 20 \
    --json $OUT/steps-$v-$round.json > $OUT/steps-$v-$round.txt 2>&1
  echo "steps $v $round rc $?: $(grep -E '^vecinfer .* x ' $OUT/steps-$v-$round.txt | sed -E 's/^vecinfer ([^ ]+) +([0-9]+) x +([0-9]+): eager ([0-9.]+) ms, graph ([0-9.]+) ms.*/\1 \2x\3:\5/' | tr '\n' ' ')"
done; done
tar czf $OUT/append.tgz -C $OUT $(cd $OUT && ls *.txt *.json *.log) && (cd $OUT && rm -f *.txt *.json *.log)
