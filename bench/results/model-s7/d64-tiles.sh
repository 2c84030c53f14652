#!/usr/bin/env bash
# Session 7: SmolLM2's attention shape (9/3 heads, D 64), 2-bit d4b8, on the engine's layout
# (64-token pages) and contiguous: tile x warps x codebook replicas, with one-wave splits. The
# H100 tuner picked 512-token tiles over 8 warps for every SmolLM2 key; the default is 256 / 4.
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
xz -dc .carry/s7/vecinfer.xz > /tmp/vi && chmod +x /tmp/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for layout in paged64 contiguous; do
  timeout 250 /tmp/vi bench --heads 9 --kv-heads 3 --head-dim 64 --codecs d4b8/d4b8 --layouts $layout \
    --shapes 1x8192,1x131072,4x131072,64x8192,256x2048 --tile 256,512 --warps 4,8 --replicas 4,16 --runs 20 \
    --json $OUT/d64-$layout.json > $OUT/d64-$layout.txt 2>&1; echo "$layout rc $?"
done
