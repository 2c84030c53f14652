#!/usr/bin/env bash
# Session 6, H100, part 1 of 2 (one warm machine): the generated source changed (this session's
# kernel work), so the shipped file is re-made. The append tests after its last change, the
# baselines (SDPA FP16, FlashInfer FP16 and FP8) for both shapes, then the bench grid's 24
# contiguous keys, exhaustive. The file stays in /tmp/t6 for part 2 (run2.sh).
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH VECINFER_REQUIRE_GPU=1
C=$PWD/.carry/k8
mkdir -p /tmp/t6 && for b in vecinfer gpu_append; do xz -d -c $C/$b.xz > /tmp/t6/$b && chmod +x /tmp/t6/$b; done
python3 -m pip install -q --no-index --no-deps --target /tmp/site $C/fi/*.whl && export PYTHONPATH=/tmp/site
nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv > $OUT/gpu.txt
(timeout 100 /tmp/t6/gpu_append --ignored --test-threads 1 > $OUT/gpu-append.log 2>&1; echo "gpu_append rc $?"
 timeout 150 compute-sanitizer --tool memcheck /tmp/t6/gpu_append --ignored --test-threads 1 > $OUT/memcheck-append.log 2>&1; echo "memcheck rc $?") &
python3 $C/fp16_decode_baseline.py --json $OUT/sdpa-baseline.json > $OUT/sdpa-baseline.log 2>&1; echo "baseline rc $?"
python3 $C/fp16_decode_baseline.py --heads 9 --kv-heads 3 --head-dim 64 --shapes 1x32768,1x131072,8x32768,64x8192,256x2048 --json $OUT/sdpa-smollm2.json > $OUT/sdpa-smollm2.log 2>&1; echo "baseline smollm2 rc $?"
wait
grep -h "test result" $OUT/gpu-append.log; grep -h "ERROR SUMMARY" $OUT/memcheck-append.log
cp $OUT/sdpa-*.json /tmp/t6/
if grep -q "test result: ok" $OUT/gpu-append.log; then
  timeout 300 /tmp/t6/vecinfer tune --strategy exhaustive --out /tmp/t6/tuned --baseline $OUT/sdpa-baseline.json --table $OUT/table-exhaustive.md > $OUT/tune-exhaustive.log 2>&1; echo "exhaustive rc $?"
  tail -n 26 $OUT/table-exhaustive.md | cut -c1-200
fi
cd $OUT && gzip -c /tmp/t6/tuned/*.json > tuned-exhaustive.json.gz && tar czf logs.tgz *.log && rm -f *.log
