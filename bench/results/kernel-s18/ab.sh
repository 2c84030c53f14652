#!/usr/bin/env bash
# Session 18, H100: the attention's set-up, two changes. `cb`: both codebooks copied with every
# centroid loaded once (one L2 round trip, then shuffles), where a load per replica cost a round
# trip per unrolled group of four. `new`: cb, and the query's Hadamard butterflies by shuffles,
# a warp per head, with one barrier where there were log2(D). GPU tests and gpu-check on `new`;
# then old (.carry/s17, commit 7ca54e4), cb and new on the same configs, interleaved: the kernel
# alone (bench, verified against the CPU reference first) and whole decode steps (the shipped
# file; for cb and new a copy carrying their code generator's fingerprint).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
R=/tmp/r; mkdir -p $R; C=.carry/s18
for v in old cb; do xz -dc $C/vi-$v.xz > $R/vi-$v; done; xz -dc $C/vi.xz > $R/vi-new
for b in gpu_attention gpu_paged gpu_append gpu_tuner; do xz -dc $C/$b.xz > $R/$b; done; chmod +x $R/*
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
if [ "${SKIP_TESTS:-0}" = 0 ]; then
for t in gpu_attention gpu_paged gpu_append gpu_tuner; do
  VECINFER_REQUIRE_GPU=1 timeout 200 $R/$t --include-ignored --test-threads 1 > $OUT/$t.log 2>&1; echo "$t rc $?: $(grep -E '^test result' $OUT/$t.log)"
done
timeout 120 $R/vi-new gpu-check > $OUT/check.txt 2>&1; echo "gpu-check rc $?: $(grep -cE '^PASS' $OUT/check.txt) PASS"; grep -E "^FAIL" $OUT/check.txt | cut -c1-200
fi
F=tuned-configs/nvidia-h100-80gb-hbm3.json; nvidia-smi -L | grep -q H200 && F=tuned-configs/nvidia-h200.json
for v in cb new; do fp=$(cat $C/fp-$v.txt); sed "s/\"codegen\": \"8034b0db89fcd82b\"/\"codegen\": \"$fp\"/" $F > $R/fp-$v.json; done
SMOL="--heads 9 --kv-heads 3 --head-dim 64 --codecs d4b8/d4b8 --residual 128 --runs 50"
if [ "${SKIP_BENCH:-0}" = 0 ]; then
for round in 1 2; do for v in old cb new; do
  # The engine's batch-1 winner (paged64 t512 w8 r16 mb2) and the 1 x 8192 one (r4, no bound).
  timeout 60 $R/vi-$v bench $SMOL --shapes 1x8192,1x131072 --layouts paged64 --tile 512 --warps 8 --replicas 16 --min-blocks 2 --direct-codes true > $OUT/bench-smol-r16-$v-$round.txt 2>&1
  timeout 60 $R/vi-$v bench $SMOL --shapes 1x8192,1x32768,64x8192 --layouts paged64 --tile 512 --warps 8 --replicas 4 --direct-codes true > $OUT/bench-smol-r4-$v-$round.txt 2>&1
  # Llama: the default (w4 r16, three blocks) and the tuned batch-1 winner (t512 w8 r16).
  timeout 60 $R/vi-$v bench --codecs d4b8/d4b8 --shapes 1x32768,1x131072,8x32768,64x8192 --runs 50 > $OUT/bench-llama-$v-$round.txt 2>&1
  timeout 60 $R/vi-$v bench --codecs d4b8/d4b8 --shapes 1x32768,1x131072 --tile 512 --warps 8 --replicas 16 --direct-codes true --runs 50 > $OUT/bench-llama-w8-$v-$round.txt 2>&1
  echo "round $round $v:"; grep -hE "verified|FAIL|error|^  [0-9]+x[0-9]+: " $OUT/bench-*-$v-$round.txt | cut -c1-140
done; done
fi
for round in 1 2; do for v in old cb new; do
  file=$F; [ $v != old ] && file=$R/fp-$v.json
  VECINFER_TUNED_CONFIGS=$file timeout 150 $R/vi-$v decode-bench --random-weights --caches d4b8/d4b8 --batches 1,4 --contexts 8192,131072 --largest-at= --steps 30 \
    --json $OUT/steps-$v-$round.json > $OUT/steps-$v-$round.txt 2>&1; echo "steps $v $round rc $?"
  grep -E "^vecinfer.* x " $OUT/steps-$v-$round.txt | cut -c1-150
done; done
# The FP16 cache at 1 x 128k, each tiling's whole step (its code did not change).
VECINFER_TUNED_CONFIGS=$R/fp-new.json timeout 200 $R/vi-new decode-bench --random-weights --caches fp16 --batches 1 --contexts 131072 --largest-at= --steps 30 --tune-fp16 steps \
  --json $OUT/steps-fp16.json > $OUT/steps-fp16.txt 2>&1; echo "fp16 rc $?"; grep -E " x +[0-9]+: " $OUT/steps-fp16.txt | cut -c1-150
tar czf $OUT/logs.tgz -C $OUT $(cd $OUT && ls *.log *.txt) && (cd $OUT && rm -f *.log *.txt)
