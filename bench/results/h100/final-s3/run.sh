#!/usr/bin/env bash
# Session 3, final source: every GPU test, the sanitizer on the tensor-core kernels, the macro
# example engine, the SDPA baseline and `vecinfer bench` in one device command.
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
cd .carry/gpu
VECINFER_REQUIRE_GPU=1 VECINFER_REAL_KV=smollm2-kv.safetensors VECINFER_REAL_CODEBOOKS=cb-d4b8-d4b8-layer.safetensors timeout 200 ./gpu_attention --test-threads 1 > $OUT/gpu-attention-tests.log 2>&1; echo "gpu_attention rc $?"
VECINFER_REQUIRE_GPU=1 timeout 100 ./gpu_append --test-threads 1 > $OUT/gpu-append-tests.log 2>&1; echo "gpu_append rc $?"
VECINFER_REQUIRE_GPU=1 timeout 100 ./gpu_tuner > $OUT/gpu-tuner-test.log 2>&1; echo "gpu_tuner rc $?"
timeout 60 ./engine > $OUT/engine.log 2>&1; echo "engine rc $?"
VECINFER_REQUIRE_GPU=1 timeout 90 compute-sanitizer --tool memcheck ./gpu_attention every_mma_axis --test-threads 1 > $OUT/sanitizer-memcheck-mma.log 2>&1; echo "memcheck rc $?"
python3 fp16_decode_baseline.py --json $OUT/sdpa-baseline.json > $OUT/sdpa-baseline.log 2>&1; echo "sdpa rc $?"
timeout 200 ./vecinfer bench --baseline $OUT/sdpa-baseline.json --json $OUT/bench.json > $OUT/bench.log 2>&1; echo "bench rc $?"
grep -h "test result" $OUT/gpu-*.log; grep -h "ERROR SUMMARY" $OUT/sanitizer-*.log; cat $OUT/engine.log
grep -E "^ +[0-9]+ +[0-9]+ +d4b8" $OUT/bench.log
cd $OUT && tar czf logs.tgz *.log && rm -f *.log
