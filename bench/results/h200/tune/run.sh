#!/usr/bin/env bash
# The tuner on a 2 × H200 machine (device kind nvidia-h200-x2; one device command, run from the
# repository root with the binaries built here and carried in .carry/gpu): the kernel GPU tests
# on GPU 1 while the SDPA baseline runs on GPU 0, then the bench grid tuned exhaustive and
# guided with `--devices all` (one worker per GPU, results merged into one file), and the guided
# picks against the exhaustive run.
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
C=$PWD/.carry/gpu
nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
(cd $C && CUDA_VISIBLE_DEVICES=1 VECINFER_REQUIRE_GPU=1 VECINFER_REAL_KV=smollm2-kv.safetensors VECINFER_REAL_CODEBOOKS=cb-d4b8-d4b8-layer.safetensors timeout 240 ./gpu_attention --test-threads 1 > $OUT/gpu-attention-tests.log 2>&1; echo "gpu_attention rc $?") &
CUDA_VISIBLE_DEVICES=0 python3 $C/fp16_decode_baseline.py --json $OUT/sdpa-baseline.json > $OUT/sdpa-baseline.log 2>&1; echo "sdpa rc $?"
CUDA_VISIBLE_DEVICES=0 VECINFER_REQUIRE_GPU=1 timeout 100 $C/gpu_tuner --nocapture > $OUT/gpu-tuner-test.log 2>&1; echo "gpu_tuner rc $?"
CUDA_VISIBLE_DEVICES=0 VECINFER_REQUIRE_GPU=1 timeout 100 $C/gpu_append --test-threads 1 > $OUT/gpu-append-tests.log 2>&1; echo "gpu_append rc $?"
wait
timeout ${EXHAUSTIVE_S:-240} $C/vecinfer tune --devices all --strategy exhaustive --out $OUT/tuned --baseline $OUT/sdpa-baseline.json --table $OUT/table-exhaustive.md > $OUT/tune-exhaustive.log 2>&1; echo "exhaustive rc $?"
timeout ${GUIDED_S:-200} $C/vecinfer tune --devices all --strategy guided --file $OUT/guided.json --baseline $OUT/sdpa-baseline.json --table $OUT/table-guided.md > $OUT/tune-guided.log 2>&1; echo "guided rc $?"
$C/vecinfer compare-tuning --exhaustive $OUT/tuned/*.json --other $OUT/guided.json --table $OUT/guided-vs-exhaustive.md 2>&1 | tail -3
$C/vecinfer info --tuned-dir $OUT/tuned > $OUT/info.log 2>&1; head -12 $OUT/info.log
grep -h "test result" $OUT/gpu-*-test*.log
for f in exhaustive guided; do echo "$f: GPU 0 $(grep -c '^GPU 0:' $OUT/tune-$f.log) keys, GPU 1 $(grep -c '^GPU 1:' $OUT/tune-$f.log) keys"; grep -E "tuning time|seconds" $OUT/tune-$f.log | tail -1; done
cd $OUT && tar czf logs.tgz *.log *.md gpu.txt && rm -f *.log *.lock tuned/*.lock
