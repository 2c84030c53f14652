#!/usr/bin/env bash
# Session 6, H100, part 2 of 2 (the machine of run.sh, still warm): paged keys whose page size
# the tuner chooses (2-bit and 1.25-bit, guided), and the SmolLM2 attention shape (9 query /
# 3 KV heads, head dim 64) for 2-bit, guided, each with its own baselines from part 1.
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
F=$(ls /tmp/t6/tuned/*.json)
timeout 200 /tmp/t6/vecinfer tune --strategy guided --layouts paged --codecs d4b8/d4b8,d8b12/d8b8 --pages 16,64,256 --file $F --baseline /tmp/t6/sdpa-baseline.json --table $OUT/table-paged.md > $OUT/tune-paged.log 2>&1; echo "paged rc $?"
timeout 200 /tmp/t6/vecinfer tune --strategy guided --heads 9 --kv-heads 3 --head-dim 64 --shapes 1x32768,1x131072,8x32768,64x8192,256x2048 --codecs d4b8/d4b8 --file $F --baseline /tmp/t6/sdpa-smollm2.json --table $OUT/table-smollm2.md > $OUT/tune-smollm2.log 2>&1; echo "smollm2 rc $?"
tail -n 14 $OUT/table-paged.md | cut -c1-200; tail -n 7 $OUT/table-smollm2.md | cut -c1-200
cd $OUT && gzip -c $F > tuned-final.json.gz && tar czf logs.tgz *.log && rm -f *.log
