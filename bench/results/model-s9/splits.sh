#!/usr/bin/env bash
# Session 9, H100: the fused kernel (attention + split merge, timed together) at few (sequence,
# KV head) pairs against the split count: auto (one wave: 3 blocks/SM x 132 SMs / pairs) and
# fixed counts below and above it, SmolLM2's shape (9/3 heads, D 64) on the engine's 64-token
# pages and Llama-3.1-8B's (32/8, D 128), 2-bit d4b8. Fewer splits copy the codebooks fewer
# times and give the merge less to do; more hide more latency.
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
xz -dc .carry/s9/vi.xz > /tmp/vi && chmod +x /tmp/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout 250 /tmp/vi bench --heads 9 --kv-heads 3 --head-dim 64 --codecs d4b8/d4b8 --layouts paged64 \
  --shapes 1x32768,1x131072,4x131072 --tile 256,512 --warps 4,8 --split auto,22,44,66,132,264 --runs 20 \
  --json $OUT/d64.json > $OUT/d64.txt 2>&1; echo "d64 rc $?"
timeout 250 /tmp/vi bench --codecs d4b8/d4b8 --layouts paged64 \
  --shapes 1x32768,1x131072,4x131072 --split auto,8,16,33,50,99 --runs 20 \
  --json $OUT/d128.json > $OUT/d128.txt 2>&1; echo "d128 rc $?"
grep -hE 'd4b8' $OUT/d64.txt $OUT/d128.txt | cut -c1-160
