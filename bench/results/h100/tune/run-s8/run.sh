#!/usr/bin/env bash
# Session 8, H100, part 1 of 2 (one warm machine): the generated source changed (griddepcontrol
# in the attention, merge and append kernels; the merge's loads before its empty-split test),
# so the shipped file is re-made. The append and paged GPU tests, the baselines (SDPA FP16,
# FlashInfer FP16 and FP8) for both shapes, then the bench grid's 24 contiguous keys,
# exhaustive. The file stays in /tmp/t8 for part 2 (run2.sh).
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH VECINFER_REQUIRE_GPU=1
C=$PWD/.carry/t8
mkdir -p /tmp/t8 && for b in vecinfer-new vecinfer-old gpu_append gpu_paged; do xz -d -c $C/$b.xz > /tmp/t8/$b && chmod +x /tmp/t8/$b; done
python3 -m pip install -q --no-index --no-deps --target /tmp/site $C/fi/*.whl && export PYTHONPATH=/tmp/site
nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
(timeout 100 /tmp/t8/gpu_append --ignored --test-threads 1 > $OUT/gpu-append.log 2>&1; echo "gpu_append rc $?"
 timeout 150 /tmp/t8/gpu_paged --ignored --test-threads 1 > $OUT/gpu-paged.log 2>&1; echo "gpu_paged rc $?") &
python3 $C/fp16_decode_baseline.py --json $OUT/sdpa-baseline.json > $OUT/sdpa-baseline.log 2>&1; echo "baseline rc $?"
python3 $C/fp16_decode_baseline.py --heads 9 --kv-heads 3 --head-dim 64 --shapes 1x32768,1x131072,8x32768,64x8192,256x2048 --json $OUT/sdpa-smollm2.json > $OUT/sdpa-smollm2.log 2>&1; echo "baseline smollm2 rc $?"
wait
grep -h "test result" $OUT/gpu-*.log
cp $OUT/sdpa-*.json /tmp/t8/
if grep -q "test result: ok" $OUT/gpu-append.log; then
  timeout 330 /tmp/t8/vecinfer-new tune --strategy exhaustive --out /tmp/t8/tuned --baseline $OUT/sdpa-baseline.json --table $OUT/table-exhaustive.md > $OUT/tune-exhaustive.log 2>&1; echo "exhaustive rc $?"
  tail -n 26 $OUT/table-exhaustive.md | cut -c1-200
fi
cd $OUT && gzip -c /tmp/t8/tuned/*.json > tuned-exhaustive.json.gz && tar czf logs.tgz *.log && rm -f *.log
