#!/usr/bin/env bash
# Session 17, H100: the fp16 tokens moved to the remainder split and the lengths read before the
# query transform. GPU tests and gpu-check on the new binaries, then old (.carry/s16, commit
# 9265524) against new (.carry/s17) on the same configs: the kernel alone (bench, verified
# first) and whole decode steps (the shipped file; for the new binary a copy carrying the new
# code generator's fingerprint, so that both run the same tuned configs).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
R=/tmp/r; mkdir -p $R
xz -dc .carry/s16/vi.xz > $R/vi-old; xz -dc .carry/s17/vi.xz > $R/vi-new
for b in gpu_attention gpu_paged gpu_append gpu_tuner; do xz -dc .carry/s17/$b.xz > $R/$b; done; chmod +x $R/*
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for t in gpu_attention gpu_paged gpu_append gpu_tuner; do
  VECINFER_REQUIRE_GPU=1 timeout 200 $R/$t --include-ignored --test-threads 1 > $OUT/$t.log 2>&1; echo "$t rc $?: $(grep -E '^test result' $OUT/$t.log)"
done
timeout 120 $R/vi-new gpu-check > $OUT/check.txt 2>&1; echo "gpu-check rc $?: $(grep -cE '^PASS' $OUT/check.txt) PASS"; grep -E "^FAIL" $OUT/check.txt | cut -c1-200
F=tuned-configs/nvidia-h100-80gb-hbm3.json
sed 's/"codegen": "a8b35000274d3d92"/"codegen": "ce074afb00c289fb"/' $F > $R/new-fp.json
SMOL="--heads 9 --kv-heads 3 --head-dim 64 --codecs d4b8/d4b8 --residual 128 --runs 50"
for round in 1 2; do for v in old new; do
  # The engine's batch-1 winner (paged64 t512 w8 r16 mb2) and the 1 x 8192 one (r4, no bound).
  timeout 60 $R/vi-$v bench $SMOL --shapes 1x8192,1x131072 --layouts paged64 --tile 512 --warps 8 --replicas 16 --min-blocks 2 --direct-codes true > $OUT/bench-smol-r16-$v-$round.txt 2>&1
  timeout 60 $R/vi-$v bench $SMOL --shapes 1x8192,1x32768,64x8192 --layouts paged64 --tile 512 --warps 8 --replicas 4 --direct-codes true > $OUT/bench-smol-r4-$v-$round.txt 2>&1
  timeout 60 $R/vi-$v bench --codecs d4b8/d4b8 --shapes 1x32768,1x131072,64x8192 --runs 50 > $OUT/bench-llama-$v-$round.txt 2>&1
  echo "round $round $v:"; grep -hE "verified|FAIL|error|^  [0-9]+x[0-9]+: " $OUT/bench-*-$v-$round.txt | cut -c1-140
done; done
for round in 1 2; do for v in old new; do
  file=$F; [ $v = new ] && file=$R/new-fp.json
  VECINFER_TUNED_CONFIGS=$file timeout 150 $R/vi-$v decode-bench --random-weights --caches d4b8/d4b8 --batches 1,4 --contexts 8192,131072 --largest-at= --steps 30 \
    --json $OUT/steps-$v-$round.json > $OUT/steps-$v-$round.txt 2>&1; echo "steps $v $round rc $?"
  grep -E "^vecinfer.* x " $OUT/steps-$v-$round.txt | cut -c1-150
done; done
tar czf $OUT/logs.tgz -C $OUT $(cd $OUT && ls *.log *.txt) && (cd $OUT && rm -f *.log *.txt)
