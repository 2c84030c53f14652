#!/usr/bin/env bash
# Session 7, final binary: the fused kernel's bench grid (Llama-3.1-8B attention shape, 2-bit
# d4b8, default config, one-wave auto splits) beside torch SDPA FP16 in the same command.
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
xz -dc .carry/s7/vecinfer.xz > /tmp/vi && chmod +x /tmp/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
python3 .carry/s7/fp16_decode_baseline.py --json $OUT/sdpa.json > $OUT/sdpa.txt 2>&1; echo "sdpa rc $?"
timeout 200 /tmp/vi bench --codecs d4b8/d4b8 --baseline $OUT/sdpa.json --runs 30 --json $OUT/bench.json > $OUT/bench.txt 2>&1; echo "bench rc $?"
grep -E "^ +[0-9]+ +[0-9]+ +d4b8" $OUT/bench.txt | cut -c1-140
