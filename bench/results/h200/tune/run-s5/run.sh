#!/usr/bin/env bash
# Session 5 on the H200: the paged GPU tests and the paged variants of every shipped kernel,
# then the shipped H200 file re-made for the new generated source (exhaustive contiguous keys,
# guided paged keys for 2-bit and 1.25-bit with pages of 16, 64 and 256), and the paged bench
# beside contiguous, SDPA in the same run.
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
C=$PWD/.carry/h200
nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
export VECINFER_REQUIRE_GPU=1
(cd $C && timeout 120 ./gpu_paged --ignored --test-threads 1 > $OUT/gpu-paged.log 2>&1; echo "gpu_paged rc $?"; timeout 120 ./gpu_append --ignored --test-threads 1 > $OUT/gpu-append.log 2>&1; echo "gpu_append rc $?"; timeout 200 ./gpu_attention --ignored --test-threads 1 in_pages > $OUT/gpu-attention-pages.log 2>&1; echo "gpu_attention in_pages rc $?")
grep -h "test result" $OUT/gpu-*.log
python3 $C/fp16_decode_baseline.py --json $OUT/sdpa-baseline.json > $OUT/sdpa-baseline.log 2>&1; echo "sdpa rc $?"
timeout 240 $C/vecinfer tune --strategy exhaustive --out $OUT/tuned --baseline $OUT/sdpa-baseline.json --table $OUT/table-exhaustive.md > $OUT/tune-exhaustive.log 2>&1; echo "exhaustive rc $?"
F=$(ls $OUT/tuned/*.json)
timeout 200 $C/vecinfer tune --strategy guided --layouts paged --codecs d4b8/d4b8,d8b12/d8b8 --pages 16,64,256 --file $F --baseline $OUT/sdpa-baseline.json --table $OUT/table-paged.md > $OUT/tune-paged.log 2>&1; echo "paged rc $?"
timeout 100 $C/vecinfer bench --shapes 1x32768,8x32768,32x8192,64x8192,128x4096 --codecs d4b8/d4b8 --layouts contiguous,paged16,paged64,paged256 --baseline $OUT/sdpa-baseline.json --json $OUT/bench-paged.json > $OUT/bench-paged.log 2>&1; echo "bench rc $?"
tail -n 26 $OUT/table-exhaustive.md | cut -c1-150; tail -n 13 $OUT/table-paged.md | cut -c1-150; grep -E "^ +[0-9]+ +[0-9]+ +d" $OUT/bench-paged.log | cut -c1-130
cd $OUT && rm -f tuned/*.lock && gzip -c tuned/*.json > nvidia-h200.json.gz && rm -rf tuned && tar czf logs.tgz *.log && rm -f *.log
