#!/usr/bin/env bash
# Session 26, H200 (carry .carry/s26d): gpu_model's tiny-model checks on the final commit (after the duplicates refactor)
# (only-layers in any order; projection writes into a cache of FP16 and VQ parts).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc
xz -dc .carry/s26d/gpu_model.xz > /tmp/gpu_model; chmod +x /tmp/gpu_model
VECINFER_REQUIRE_GPU=1 timeout 240 /tmp/gpu_model --ignored --test-threads 1 --nocapture tiny_random_model > $OUT/gpu_model.txt 2>&1
echo "gpu_model: $(grep -E "^test result" $OUT/gpu_model.txt)"; grep -E "only-layers|layers 1, 3|FAIL" $OUT/gpu_model.txt | cut -c1-300
