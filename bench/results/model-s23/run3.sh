#!/usr/bin/env bash
# Session 23, H200: what the ctx-8192 2.0-bit config costs (K d4b9 / V d8b10, 4 sinks + 311
# int8 tokens) against the shipped 2-bit cache (d4b8/d4b8, 128 fp16 tokens) in whole steps
# (random weights of SmolLM2's shape), and the attention kernel alone with an fp16 against an
# int8 window (ncu, 1 x 8192, d4b8/d4b8, 4 + 128).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc
B=/tmp/s23; mkdir -p $B; xz -dc .carry/s23/vi.xz > $B/vi; chmod +x $B/vi
db() { local name=$1; shift; timeout 200 $B/vi decode-bench --random-weights --batches 1,16,64 --contexts 8192 --largest-at "" --sinks 4 --warmup 3 --steps 20 --json $OUT/$name.json "$@" > $OUT/$name.txt 2>&1; echo "== $name rc $?"; grep -E "^vecinfer .*ms ->" $OUT/$name.txt | cut -c1-150; }
db d4b8-fp16-r128 --caches d4b8/d4b8 --residual 128 --window fp16
db d4b9d8b10-int8-r311 --caches d4b9/d8b10 --residual 311 --window int8
db d4b9d8b10-fp16-r128 --caches d4b9/d8b10 --residual 128 --window fp16
for w in fp16 int8; do
  timeout 200 ncu --kernel-name regex:vq_attention --launch-skip 60 --launch-count 20 --metrics gpu__time_duration.sum \
    $B/vi decode-bench --random-weights --caches d4b8/d4b8 --batches 1 --contexts 8192 --largest-at "" --sinks 4 --residual 128 \
    --window $w --warmup 2 --steps 4 > $OUT/ncu-$w.txt 2>&1
  echo "ncu $w rc $?: $(grep -E "gpu__time_duration.sum" $OUT/ncu-$w.txt | awk '{print $NF}' | sort -n | awk '{a[NR]=$1} END {print "median", a[int((NR+1)/2)], "of", NR}')"
  grep -m1 -E "vq_attention" $OUT/ncu-$w.txt | cut -c1-120
done
