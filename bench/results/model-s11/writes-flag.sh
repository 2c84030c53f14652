#!/usr/bin/env bash
# Session 11: `decode-bench --token-writes both` (each point with the projection's writes and
# with an append per layer, labelled) on both caches, and a VQ cache without an fp16 window
# (--residual 0), which cannot take the projection's writes and so reports Append either way.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
xz -dc .carry/s11h/vi.xz > /tmp/vi && chmod +x /tmp/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
G="--random-weights --caches fp16,d4b8/d4b8 --batches 1,4 --contexts 8192 --largest-at= --steps 20 --token-writes both"
timeout 120 /tmp/vi decode-bench $G --json $OUT/both.json > $OUT/both.txt 2>&1; echo "rc $?"
grep -E " x " $OUT/both.txt | cut -c1-150
timeout 120 /tmp/vi decode-bench --random-weights --caches d4b8/d4b8 --batches 1 --contexts 8192 --largest-at= --steps 10 --residual 0 --token-writes both > $OUT/no-window.txt 2>&1; echo "rc $?"
grep -E " x " $OUT/no-window.txt | cut -c1-150
