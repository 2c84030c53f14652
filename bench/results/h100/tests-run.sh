export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH
export VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
cd .carry/gpu
VECINFER_REQUIRE_GPU=1 VECINFER_REAL_KV=smollm2-kv.safetensors VECINFER_REAL_CODEBOOKS=cb-d4b8-d4b8-layer.safetensors timeout 240 ./gpu_attention --test-threads 1 --nocapture > $OUT/gpu-tests.log 2>&1; echo "gpu_attention rc $?"
VECINFER_REQUIRE_GPU=1 timeout 100 ./gpu_append --test-threads 1 --nocapture > $OUT/gpu-append-tests.log 2>&1; echo "gpu_append rc $?"
grep -E "^test result|FAILED|panicked" $OUT/gpu-tests.log $OUT/gpu-append-tests.log
VECINFER_REQUIRE_GPU=1 timeout 90 compute-sanitizer --tool memcheck ./gpu_attention every_mma_axis --test-threads 1 > $OUT/sanitizer-memcheck-mma.log 2>&1; echo "memcheck mma rc $?"
VECINFER_REQUIRE_GPU=1 timeout 150 compute-sanitizer --tool racecheck ./gpu_attention every_mma_axis --test-threads 1 > $OUT/sanitizer-racecheck-mma.log 2>&1; echo "racecheck mma rc $?"
VECINFER_REQUIRE_GPU=1 timeout 60 compute-sanitizer --tool memcheck ./gpu_append prefill_then_decode --test-threads 1 > $OUT/sanitizer-memcheck-append.log 2>&1; echo "memcheck append rc $?"
grep -hE "ERROR SUMMARY|RACECHECK SUMMARY" $OUT/sanitizer-*.log
python3 fp16_decode_baseline.py --json $OUT/sdpa-baseline.json > $OUT/sdpa-baseline.log 2>&1
timeout 200 ./vecinfer bench --baseline $OUT/sdpa-baseline.json --json $OUT/bench.json > $OUT/bench.log 2>&1; echo "bench rc $?"
grep -E "^ +[0-9]+ +[0-9]+ +d4b8" $OUT/bench.log
