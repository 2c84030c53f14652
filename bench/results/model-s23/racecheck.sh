#!/usr/bin/env bash
# Session 23, H200: is the racecheck failure of the batch-16 cuBLAS int8 run ours? The same
# run with an fp16 window (no int8 rows, rope_qkv's fp16 path), and the int8 one again.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc
B=/tmp/s23; mkdir -p $B; xz -dc .carry/s23/vi.xz > $B/vi; chmod +x $B/vi
for w in fp16 int8; do
  timeout 200 compute-sanitizer --tool racecheck --print-limit 5 $B/vi decode-bench --random-weights --caches d4b8/d4b8 --window $w \
    --sinks 4 --residual 16 --batches 16 --contexts 64 --largest-at "" --warmup 0 --steps 1 --projections cublas --tune-fp16 off > $OUT/racecheck-cublas-$w.txt 2>&1
  echo "racecheck cublas $w rc $?: $(grep -E "RACECHECK SUMMARY" $OUT/racecheck-cublas-$w.txt)"; tail -4 $OUT/racecheck-cublas-$w.txt
done
