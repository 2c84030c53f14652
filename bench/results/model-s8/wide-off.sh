#!/usr/bin/env bash
# Session 8, H100: the wide tiles (512 tokens, 8 warps) taken off the engine's VQ cache (the
# real model's GPU perplexity left the CPU's with them, bisect2.sh). The real-KV kernel test now
# includes that config (per-layer error against the CPU reference), then the decode steps at
# 1 and 4 sequences without it (the README's numbers).
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
S=$PWD/.carry/s8c; G=/tmp/kv; mkdir -p $G
cp $S/cb-d4b8-d4b8-layer.safetensors $G/ && xz -dc $S/smollm2-kv.safetensors.xz > $G/smollm2-kv.safetensors
for b in vi-f gpu_attention; do xz -dc $S/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
cd $G
VECINFER_REQUIRE_GPU=1 VECINFER_REAL_KV=smollm2-kv.safetensors VECINFER_REAL_CODEBOOKS=cb-d4b8-d4b8-layer.safetensors \
  timeout 200 /tmp/gpu_attention --include-ignored --test-threads 1 --nocapture real_smollm2 > $OUT/gpu-attention-real.log 2>&1; echo "gpu_attention real rc $?"
grep -hE "^test result|panicked" $OUT/gpu-attention-real.log; grep -E "real KV" $OUT/gpu-attention-real.log | grep -E "t512" | sort -t: -k2 | tail -4 | cut -c1-160
grep -E "real KV" $OUT/gpu-attention-real.log | awk '{print $NF, $0}' | sort -g | tail -3 | cut -c1-170
cd - > /dev/null
timeout 250 /tmp/vi-f decode-bench --random-weights --caches fp16,d4b8/d4b8 --batches 1,4 --contexts 8192,131072 --largest-at= \
  --json $OUT/decode-bench.json > $OUT/decode-bench.txt 2>&1; echo "decode-bench rc $?"
grep -hE "lower|^(fp16|vecinfer) .* x " $OUT/decode-bench.txt | cut -c1-150
