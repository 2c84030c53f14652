#!/usr/bin/env bash
# Session 7: head dim 64's default config became 512-token tiles over 8 warps. The GPU tests of
# the fused kernel (real SmolLM2 K/V with the new default included), then the whole-model
# decode with the binary before the change and after, in one command (H100).
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
S=$PWD/.carry/s7; G=/tmp/kv; mkdir -p $G
cp $S/cb-d4b8-d4b8-layer.safetensors $G/ && xz -dc $S/smollm2-kv.safetensors.xz > $G/smollm2-kv.safetensors
xz -dc $S/vecinfer-before.xz > /tmp/before && xz -dc $S/vecinfer.xz > /tmp/after && chmod +x /tmp/before /tmp/after
for b in gpu_attention gpu_paged; do xz -dc $S/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
cd $G
VECINFER_REQUIRE_GPU=1 VECINFER_REAL_KV=smollm2-kv.safetensors VECINFER_REAL_CODEBOOKS=cb-d4b8-d4b8-layer.safetensors \
  timeout 200 /tmp/gpu_attention --include-ignored --test-threads 1 > $OUT/gpu-attention.log 2>&1; echo "gpu_attention rc $?"
VECINFER_REQUIRE_GPU=1 timeout 100 /tmp/gpu_paged --include-ignored --test-threads 1 > $OUT/gpu-paged.log 2>&1; echo "gpu_paged rc $?"
grep -hE "^test result|FAILED|panicked" $OUT/gpu-*.log
cd - > /dev/null
for b in before after; do
  timeout 200 /tmp/$b decode-bench --random-weights --caches d4b8/d4b8 --batches 1,4,64 --contexts 8192,131072 --largest-at= \
    --json $OUT/decode-$b.json > $OUT/decode-$b.txt 2>&1; echo "decode $b rc $?"
  grep -E "^vecinfer.* x " $OUT/decode-$b.txt | cut -c1-120
done
