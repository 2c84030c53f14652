#!/usr/bin/env bash
# Session 28, H200, after evals.sh assembled the model in /root/s28: per-head files for the pairs of
# session 26's 2-bit plan (d4b12/d4b10 and d4b12/d4b8; head-d4b8-d8b8 comes from .carry/s28b),
# calibrated on the device's 16 cores as the local files were (ctx 2048, 16384 tokens of calib.txt).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc
cd /root/s28
s=$(date +%s)
timeout 500 ./vi calibrate --model model.gguf --text calib.txt --ctx 2048 --max-tokens 16384 --methods vecinfer \
  --granularity head --k d4b12 --v d4b10 --also d4b12/d4b8 --out "/root/s28/head-{k}-{v}.safetensors" \
  > $OUT/calibrate-head-2bit.log 2>&1
echo "calibrate rc $? $(( $(date +%s) - s )) s"; grep -E "trained in|^wrote" $OUT/calibrate-head-2bit.log | cut -c1-100
