#!/usr/bin/env bash
# Session 24, H200, no model: the tiny-model GPU checks (new: layer-wise plans), the int8 row
# writers after the scale-rule dedupe (gpu_int8_rows, gpu_append), then whole decode steps of a
# layer-wise plan against uniform caches (SmolLM2 shape, random weights, int8 window 4 + 74).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc
R=/root/s24; mkdir -p $R
for b in vi gpu_model gpu_int8_rows gpu_append; do xz -dc .carry/s24a/$b.xz > $R/$b; chmod +x $R/$b; done
VECINFER_REQUIRE_GPU=1 $R/gpu_model --ignored --test-threads 1 --nocapture tiny_random_model > $OUT/gpu_model.txt 2>&1
echo "gpu_model: $(grep -E "^test result" $OUT/gpu_model.txt)"; grep -E "plan|FAIL" $OUT/gpu_model.txt | cut -c1-220 | head -12
for t in gpu_int8_rows gpu_append; do VECINFER_REQUIRE_GPU=1 $R/$t --ignored --test-threads 1 > $OUT/$t.txt 2>&1; echo "$t: $(grep -E "^test result" $OUT/$t.txt)"; done
db() { local name=$1; shift; timeout 200 $R/vi decode-bench --random-weights --window int8 --sinks 4 --residual 74 --batches 1,16,64 --contexts 2048,8192 \
  --largest-at "" --warmup 3 --steps 20 --json $OUT/$name.json "$@" > $OUT/$name.txt 2>&1; echo "$name rc $?"; tail -22 $OUT/$name.txt; }
db uniform --caches fp16,d4b9/d8b10,d4b8/d8b10
db layered --caches d4b8/d8b10 --layer-codecs 17-18,20,23=d4b12/d4b8
db layered6 --caches d4b8/d8b8 --layer-codecs 7,14,17-18,20,23=d4b12/d4b8
