#!/usr/bin/env bash
# Session 23, H200: the skinny projection's int8 epilogue with one remote load per block
# (unrolled, no memory clobber) and the finite flag folded into the maximum's bits. Checks
# first (int8 rows against the CPU rule, the tiny model's token-writes checks), then whole
# steps fp16 vs int8 window at batch 1 and 4 (skinny), and ncu of skinny_qkv_rope at batch 1.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc VECINFER_REQUIRE_GPU=1
B=/tmp/s23c; mkdir -p $B; for f in vi gpu_int8_rows gpu_model; do xz -dc .carry/s23c/$f.xz > $B/$f; chmod +x $B/$f; done
$B/gpu_int8_rows --ignored --nocapture > $OUT/gpu_int8_rows.txt 2>&1; grep -E "rule|test result" $OUT/gpu_int8_rows.txt
$B/gpu_model --ignored --test-threads 1 --nocapture tiny_random_model > $OUT/gpu_model.txt 2>&1; grep -E "^test result|^FAIL" $OUT/gpu_model.txt
for w in fp16 int8; do
  $B/vi decode-bench --random-weights --caches d4b8/d4b8 --window $w --sinks 4 --residual 128 --batches 1,4 --contexts 8192 \
    --largest-at "" --warmup 3 --steps 20 --json $OUT/steps-$w.json > $OUT/steps-$w.txt 2>&1
  grep -E "^vecinfer .*ms ->" $OUT/steps-$w.txt | cut -c1-120
done
timeout 100 ncu --kernel-name regex:skinny_qkv_rope --launch-skip 30 --launch-count 30 --metrics gpu__time_duration.sum $B/vi decode-bench --random-weights \
  --caches d4b8/d4b8 --batches 1 --contexts 8192 --largest-at "" --sinks 4 --residual 128 --window int8 --warmup 1 --steps 2 > $OUT/ncu-skinny-int8.txt 2>&1
echo "skinny_qkv_rope int8 median: $(grep -E "gpu__time_duration.sum" $OUT/ncu-skinny-int8.txt | awk '{print $(NF)}' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)], "of", NR}') $(grep -m1 -E "gpu__time_duration.sum" $OUT/ncu-skinny-int8.txt | awk '{print $(NF-1)}')"
