#!/usr/bin/env bash
# Session 6, H200: after this session's kernel work, the append and paged-cache GPU tests, the
# baselines (SDPA FP16, FlashInfer FP16 and FP8), then the bench grid's 24 contiguous keys
# re-tuned exhaustively (the shipped H200 file).
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH VECINFER_REQUIRE_GPU=1
C=$PWD/.carry/k9
mkdir -p /tmp/t6 && for b in vecinfer gpu_append gpu_paged; do xz -d -c $C/$b.xz > /tmp/t6/$b && chmod +x /tmp/t6/$b; done
python3 -m pip install -q --no-index --no-deps --target /tmp/site $C/fi/*.whl && export PYTHONPATH=/tmp/site
nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
(timeout 100 /tmp/t6/gpu_append --ignored --test-threads 1 > $OUT/gpu-append.log 2>&1; echo "gpu_append rc $?"
 timeout 100 /tmp/t6/gpu_paged --ignored --test-threads 1 > $OUT/gpu-paged.log 2>&1; echo "gpu_paged rc $?") &
python3 $C/fp16_decode_baseline.py --json $OUT/sdpa-baseline.json > $OUT/sdpa-baseline.log 2>&1; echo "baseline rc $?"
wait
grep -h "test result" $OUT/gpu-*.log
timeout 330 /tmp/t6/vecinfer tune --strategy exhaustive --out /tmp/t6/tuned --baseline $OUT/sdpa-baseline.json --table $OUT/table-exhaustive.md > $OUT/tune-exhaustive.log 2>&1; echo "exhaustive rc $?"
tail -n 26 $OUT/table-exhaustive.md | cut -c1-200
cd $OUT && gzip -c /tmp/t6/tuned/*.json > tuned-exhaustive.json.gz && tar czf logs.tgz *.log && rm -f *.log
