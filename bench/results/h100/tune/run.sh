#!/usr/bin/env bash
# The tuner on the H100 (one device command; run from the repository root with the carried
# binaries in .carry/gpu): the GPU tests (the JIT now loads CUBINs), the SDPA baseline, then
# the bench grid tuned guided and exhaustive, and the guided picks against the exhaustive run.
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
C=.carry/gpu
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > $OUT/gpu.txt
VECINFER_REQUIRE_GPU=1 timeout 120 $C/gpu_tuner --nocapture > $OUT/gpu-tuner-test.log 2>&1; echo "gpu_tuner rc $?"
[ -z "$SKIP_KERNEL_TESTS" ] && (cd $C && VECINFER_REQUIRE_GPU=1 VECINFER_REAL_KV=smollm2-kv.safetensors VECINFER_REAL_CODEBOOKS=cb-d4b8-d4b8-layer.safetensors timeout 200 ./gpu_attention --test-threads 1 > $OUT/gpu-attention-tests.log 2>&1; echo "gpu_attention rc $?")
[ -z "$SKIP_KERNEL_TESTS" ] && (cd $C && VECINFER_REQUIRE_GPU=1 timeout 100 ./gpu_append --test-threads 1 > $OUT/gpu-append-tests.log 2>&1; echo "gpu_append rc $?")
python3 $C/fp16_decode_baseline.py --json $OUT/sdpa-baseline.json > $OUT/sdpa-baseline.log 2>&1; echo "sdpa rc $?"
timeout ${GUIDED_S:-200} $C/vecinfer tune --devices all --strategy guided --file $OUT/guided.json --baseline $OUT/sdpa-baseline.json --table $OUT/table-guided.md > $OUT/tune-guided.log 2>&1; echo "guided rc $?"
[ -f $C/exhaustive.json ] && cp $C/exhaustive.json $OUT/
timeout ${EXHAUSTIVE_S:-200} $C/vecinfer tune --strategy exhaustive --file $OUT/exhaustive.json --baseline $OUT/sdpa-baseline.json --table $OUT/table-exhaustive.md > $OUT/tune-exhaustive.log 2>&1; echo "exhaustive rc $?"
$C/vecinfer compare-tuning --exhaustive $OUT/exhaustive.json --other $OUT/guided.json --table $OUT/guided-vs-exhaustive.md 2>&1 | tail -3
mkdir -p /tmp/tc && cp $OUT/exhaustive.json /tmp/tc/nvidia-h100-80gb-hbm3.json && $C/vecinfer info --tuned-dir /tmp/tc > $OUT/info.log 2>&1; head -8 $OUT/info.log
grep -h "test result" $OUT/gpu-*-test*.log; grep -E "^d128" $OUT/tune-guided.log | wc -l; grep -E "^d128" $OUT/tune-exhaustive.log | wc -l
cd $OUT && tar czf logs.tgz *.log *.md gpu.txt && rm -f *.log *.lock
