#!/usr/bin/env bash
# Session 22, H200, call 5: the final binaries (the append computes the int8 row before its
# encode; gpu_check's tiny-model int8 perplexity over 24 windows): gpu_append, gpu_model's
# tiny model, then whole steps of the 2-bit cache (SmolLM2's shape, random weights) with an
# fp16 window written by the projection, an fp16 window appended, and an int8 window, two
# interleaved rounds.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
R=/root/s22; mkdir -p $R; for b in vi gpu_append gpu_model; do xz -dc .carry/s22/$b.xz > $R/$b; done; chmod +x $R/*
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
VECINFER_REQUIRE_GPU=1 timeout 200 $R/gpu_append --include-ignored --test-threads 1 > $OUT/gpu_append.log 2>&1; echo "gpu_append rc $?: $(grep -E '^test result' $OUT/gpu_append.log)"
VECINFER_REQUIRE_GPU=1 timeout 200 $R/gpu_model --ignored tiny --test-threads 1 > $OUT/gpu_model.log 2>&1; echo "gpu_model tiny rc $?: $(grep -E '^test result' $OUT/gpu_model.log)"; grep -E "perplexity" $OUT/gpu_model.log | head -4 | cut -c1-240
db() { local name=$1; shift; timeout 120 $R/vi decode-bench --random-weights --caches d4b8/d4b8 --batches 1,16,64 --contexts 8192 --largest-at "" --sinks 4 --residual 64 --json $OUT/$name.json "$@" > $OUT/$name.txt 2>&1; echo "$name rc $?: $(grep -E "^vecinfer d4b8/d4b8.* x " $OUT/$name.txt | grep -oE "[0-9]+ x +[0-9]+: eager [0-9.]+ ms, graph [0-9.]+ ms" | sed 's/ms, graph/\//' | tr '\n' ' ')"; }
for round in 1 2; do
  db steps-fp16-projection-$round
  db steps-fp16-append-$round --token-writes append
  db steps-int8-$round --window int8
done
tar czf $OUT/final.tgz -C $OUT $(cd $OUT && ls *.txt *.log *.json) && (cd $OUT && rm -f *.txt *.log *.json)
