#!/usr/bin/env bash
# Session 10, last call: the GPU kernel tests with the shipped kernels (separate merge) and the
# final kernel check (three launches over one workspace, partials poisoned with NaN before each).
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s10v; G=/tmp/kv; mkdir -p $G
cp $S/cb-d4b8-d4b8-layer.safetensors $G/ && xz -dc $S/smollm2-kv.safetensors.xz > $G/smollm2-kv.safetensors
for b in gpu_attention gpu_paged; do xz -dc $S/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
cd $G
VECINFER_REQUIRE_GPU=1 VECINFER_REAL_KV=smollm2-kv.safetensors VECINFER_REAL_CODEBOOKS=cb-d4b8-d4b8-layer.safetensors \
  timeout 150 /tmp/gpu_attention --include-ignored --test-threads 1 > $OUT/gpu-attention.log 2>&1; echo "gpu_attention rc $?"
VECINFER_REQUIRE_GPU=1 timeout 60 /tmp/gpu_paged --include-ignored --test-threads 1 > $OUT/gpu-paged.log 2>&1; echo "gpu_paged rc $?"
grep -hE "^test |^test result|panicked" $OUT/gpu-*.log
