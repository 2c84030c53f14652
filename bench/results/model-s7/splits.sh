#!/usr/bin/env bash
# Session 7: batch-1 split counts and codebook replicas of the fused kernel (2-bit d4b8), the
# Llama-3.1-8B attention shape and SmolLM2's (9/3 heads, D 64). `auto` is 2 waves of blocks at
# batch 1 (264 splits for SmolLM2 on an H100/H200: every block copies the codebooks again).
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
xz -dc .carry/s7/vecinfer.xz > /tmp/vi && chmod +x /tmp/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
S=auto,16,32,48,66,99,132,198
timeout 280 /tmp/vi bench --shapes 1x32768,1x131072 --codecs d4b8/d4b8 --heads 9 --kv-heads 3 --head-dim 64 \
  --split $S --replicas 4,8,16 --runs 30 --json $OUT/splits-smollm2.json > $OUT/splits-smollm2.txt 2>&1; echo "smollm2 rc $?"
timeout 280 /tmp/vi bench --shapes 1x32768,1x131072 --codecs d4b8/d4b8 \
  --split $S --replicas 8,16 --runs 30 --json $OUT/splits-llama.json > $OUT/splits-llama.txt 2>&1; echo "llama rc $?"
grep -E "ms|split" $OUT/splits-smollm2.txt | head -80 | cut -c1-160
