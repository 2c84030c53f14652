#!/usr/bin/env bash
# Session 5, the generated source changed (paged layout, .cuh stages), so the shipped H100 file
# is re-made: the bench grid tuned exhaustively (contiguous keys), then paged keys whose page
# size the tuner chooses (guided, pages 16 to 512) for 2-bit and 1.25-bit, SDPA beside it.
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
C=$PWD/.carry/gpu
nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv > $OUT/gpu.txt
python3 $C/fp16_decode_baseline.py --json $OUT/sdpa-baseline.json > $OUT/sdpa-baseline.log 2>&1; echo "sdpa rc $?"
timeout 280 $C/vecinfer tune --strategy exhaustive --out $OUT/tuned --baseline $OUT/sdpa-baseline.json --table $OUT/table-exhaustive.md > $OUT/tune-exhaustive.log 2>&1; echo "exhaustive rc $?"
F=$(ls $OUT/tuned/*.json)
timeout 250 $C/vecinfer tune --strategy guided --layouts paged --codecs d4b8/d4b8,d8b12/d8b8 --pages 16,64,256 --file $F --baseline $OUT/sdpa-baseline.json --table $OUT/table-paged.md > $OUT/tune-paged.log 2>&1; echo "paged rc $?"
tail -n 30 $OUT/table-exhaustive.md | cut -c1-160; tail -n 14 $OUT/table-paged.md | cut -c1-160
grep -v "^|" $OUT/tune-paged.log | head -20
cd $OUT && rm -f tuned/*.lock *.lock && gzip -k tuned/*.json && mv tuned/*.json.gz . && rm -rf tuned && tar czf logs.tgz *.log && rm -f *.log
