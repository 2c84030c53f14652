#!/usr/bin/env bash
# Session 10, call 1b: gpu_attention again after the check changed from "three launches
# bit-identical" (the CUDA-core kernels sum lanes with float atomics, so their last bits vary
# from launch to launch: 41 of them failed that) to "partials poisoned with NaN before each of
# three launches, worst error over them, split counters zero at the end".
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s10k; G=/tmp/kv; mkdir -p $G
cp $S/cb-d4b8-d4b8-layer.safetensors $G/ && xz -dc $S/smollm2-kv.safetensors.xz > $G/smollm2-kv.safetensors
xz -dc $S/gpu_attention.xz > /tmp/gpu_attention && chmod +x /tmp/gpu_attention
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
cd $G
VECINFER_REQUIRE_GPU=1 VECINFER_REAL_KV=smollm2-kv.safetensors VECINFER_REAL_CODEBOOKS=cb-d4b8-d4b8-layer.safetensors \
  timeout 240 /tmp/gpu_attention --include-ignored --test-threads 1 > $OUT/gpu-attention.log 2>&1; echo "gpu_attention rc $?"
grep -hE "^test |^test result|panicked" $OUT/gpu-attention.log
grep -c "worst rel err" $OUT/gpu-attention.log
