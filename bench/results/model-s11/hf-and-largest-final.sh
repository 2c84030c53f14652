#!/usr/bin/env bash
# Session 11, H100, one command, the final binary (.carry/s11h, after the review fixes; hf-and-largest-h100/ ran .carry/s11f) (the projection's K/V writes, the warp-per-row
# window flush, the shipped tuned keys): HF transformers' decode (torch SDPA, FP16 static cache)
# beside the engine at 1 x 8192 and 64 x 8192, each cache at the largest batch that fits at
# 8192, 1 x 131072 (speed only), with the plot. As session 8's hf-and-largest.sh.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
xz -dc .carry/s11h/vi.xz > /tmp/vi && chmod +x /tmp/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout 200 python3 .carry/t8/hf_decode_baseline.py --shapes 1x8192,64x8192 --steps 16 --json $OUT/hf.json > $OUT/hf.txt 2>&1; echo "hf rc $?"; tail -3 $OUT/hf.txt
timeout 360 /tmp/vi decode-bench --random-weights --caches fp16,d4b8/d4b8 --batches 1,64 --contexts 8192,131072 --largest-at 8192 \
  --baseline $OUT/hf.json --json $OUT/decode-bench.json --plot $OUT/decode-throughput.svg > $OUT/decode-bench.txt 2>&1; echo "decode-bench rc $?"
grep -E "^(fp16|vecinfer).* x |^  " $OUT/decode-bench.txt | cut -c1-170
