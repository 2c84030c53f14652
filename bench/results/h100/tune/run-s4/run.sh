#!/usr/bin/env bash
# Session 4, after the centroid-address change (codegen changed, so the shipped file is re-made):
# on the H100, the kernel GPU tests, the SDPA baseline, the bench grid tuned exhaustive (the new
# shipped file) and guided, and the guided picks against the exhaustive run. One device command
# from the repository root with the binaries carried in .carry/gpu.
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
C=$PWD/.carry/gpu
nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv > $OUT/gpu.txt
(cd $C && VECINFER_REQUIRE_GPU=1 VECINFER_REAL_KV=smollm2-kv.safetensors VECINFER_REAL_CODEBOOKS=cb-d4b8-d4b8-layer.safetensors timeout 200 ./gpu_attention --test-threads 1 > $OUT/gpu-attention-tests.log 2>&1; echo "gpu_attention rc $?")
(cd $C && VECINFER_REQUIRE_GPU=1 timeout 60 ./gpu_append --test-threads 1 > $OUT/gpu-append-tests.log 2>&1; echo "gpu_append rc $?")
(cd $C && VECINFER_REQUIRE_GPU=1 timeout 60 ./gpu_tuner > $OUT/gpu-tuner-test.log 2>&1; echo "gpu_tuner rc $?")
python3 $C/fp16_decode_baseline.py --json $OUT/sdpa-baseline.json > $OUT/sdpa-baseline.log 2>&1; echo "sdpa rc $?"
timeout 200 $C/vecinfer tune --strategy exhaustive --out $OUT/tuned --baseline $OUT/sdpa-baseline.json --table $OUT/table-exhaustive.md > $OUT/tune-exhaustive.log 2>&1; echo "exhaustive rc $?"
timeout 150 $C/vecinfer tune --strategy guided --file $OUT/guided.json --baseline $OUT/sdpa-baseline.json --table $OUT/table-guided.md > $OUT/tune-guided.log 2>&1; echo "guided rc $?"
$C/vecinfer compare-tuning --exhaustive $OUT/tuned/*.json --other $OUT/guided.json --table $OUT/guided-vs-exhaustive.md 2>&1 | tail -1
grep -h "test result" $OUT/gpu-*.log
cd $OUT && rm -f tuned/*.lock *.lock && tar czf logs.tgz *.log && rm -f *.log
