#!/usr/bin/env bash
# Session 18, H100: issue 12's headline run with the new set-up and the re-stamped file: HF
# transformers and decode-bench in one command, the FP16 cache at every point with the tiling
# whose whole step is fastest (--tune-fp16 steps), the largest batches at 8192. As
# kernel-s15/final-h100.sh.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s18b
xz -dc $S/vi.xz > /tmp/vi && chmod +x /tmp/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout 180 python3 $S/hf_decode_baseline.py --shapes 1x8192,64x8192 --steps 16 --json $OUT/hf.json > $OUT/hf.txt 2>&1; echo "hf rc $?"; tail -2 $OUT/hf.txt
timeout 370 /tmp/vi decode-bench --random-weights --caches fp16,d4b8/d4b8 --batches 1,4,64 --contexts 8192,131072 --largest-at 8192 --steps 30 \
  --tune-fp16 steps --baseline $OUT/hf.json --json $OUT/decode-bench.json --plot $OUT/decode-throughput.svg > $OUT/decode-bench.txt 2>&1; echo "decode-bench rc $?"
grep -E "^(fp16|vecinfer).* x |^  " $OUT/decode-bench.txt | cut -c1-170
grep -E "^fp16 step with" $OUT/decode-bench.txt > $OUT/fp16-steps.txt
