#!/usr/bin/env bash
# Session 8, H100, one command: HF transformers' decode (torch SDPA, FP16 static cache) beside
# the engine (dependent launches on: the default on sm_90) at 1 x 8192 and 64 x 8192, and each
# cache at the largest batch that fits at 8192, with the plot.
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
xz -dc .carry/t8/vecinfer-new.xz > /tmp/vi && chmod +x /tmp/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout 200 python3 .carry/t8/hf_decode_baseline.py --shapes 1x8192,64x8192 --steps 16 --json $OUT/hf.json > $OUT/hf.txt 2>&1; echo "hf rc $?"; cat $OUT/hf.txt | tail -3
timeout 330 /tmp/vi decode-bench --random-weights --caches fp16,d4b8/d4b8 --batches 1,64 --contexts 8192 --largest-at 8192 \
  --baseline $OUT/hf.json --json $OUT/decode-bench.json --plot $OUT/decode-throughput.svg > $OUT/decode-bench.txt 2>&1; echo "decode-bench rc $?"
grep -E "^(fp16|vecinfer).* x |^  " $OUT/decode-bench.txt | cut -c1-170
