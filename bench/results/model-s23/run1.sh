#!/usr/bin/env bash
# Session 23, first H200 call: int8 rows written by the QKV projections (skinny clusters,
# rope_qkv). Correctness first (the tiny model's token-writes checks, the append and paged
# suites), then memcheck/racecheck on short int8 decode runs, then whole steps.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_REQUIRE_GPU=1
C=.carry/s23; B=/tmp/s23; mkdir -p $B
for f in vi gpu_model gpu_append gpu_paged; do xz -dc $C/$f.xz > $B/$f; chmod +x $B/$f; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
$B/gpu_model --ignored --test-threads 1 tiny_random_model 2>&1 | tail -40 > $OUT/gpu_model.txt; tail -3 $OUT/gpu_model.txt
grep -E "token writes|int8" $OUT/gpu_model.txt | head -20
$B/gpu_append --ignored --test-threads 1 2>&1 | tail -12 > $OUT/gpu_append.txt; tail -2 $OUT/gpu_append.txt
$B/gpu_paged --ignored --test-threads 1 2>&1 | tail -12 > $OUT/gpu_paged.txt; tail -2 $OUT/gpu_paged.txt
for tool in memcheck racecheck; do
  timeout 240 compute-sanitizer --tool $tool --print-limit 5 $B/vi decode-bench --random-weights --caches d4b8/d4b8 --window int8 --sinks 4 --residual 16 \
    --batches 1,4,16 --contexts 256 --largest-at '' --warmup 1 --steps 2 --projections both --dependent-launches on > $OUT/$tool.txt 2>&1
  echo "$tool rc $?"; grep -E "ERROR SUMMARY|RACECHECK SUMMARY|Error" $OUT/$tool.txt | head -5
done
# Whole steps: fp16 window (projection writes) vs int8 window written by the projection vs appended.
for w in fp16 int8; do
  $B/vi decode-bench --random-weights --caches d4b8/d4b8 --window $w --sinks 4 --residual 128 --batches 1,4,16,64 \
    --contexts 8192 --largest-at '' --warmup 3 --steps 20 --token-writes both --json $OUT/steps-$w.json > $OUT/steps-$w.txt 2>&1
  echo "== $w"; grep -E "d4b8|fp16" $OUT/steps-$w.txt | head -24
done
