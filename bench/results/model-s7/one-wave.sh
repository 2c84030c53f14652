#!/usr/bin/env bash
# Session 7, after `auto` splits became one wave at batch 1-few (runtime/src/attention.rs
# auto_splits) and the skinny projections the default up to 4 sequences: the GPU tests of the
# fused kernel (contiguous, paged, append; real SmolLM2 K/V), the kernel bench at the batch-1
# shapes and 8 x 32k (64 pairs: auto is now 6 splits, was 12), then the whole-model decode.
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
S=$PWD/.carry/s7; G=/tmp/kv; mkdir -p $G
cp $S/cb-d4b8-d4b8-layer.safetensors $G/ && xz -dc $S/smollm2-kv.safetensors.xz > $G/smollm2-kv.safetensors
xz -dc $S/vecinfer.xz > /tmp/vi && chmod +x /tmp/vi
for b in gpu_attention gpu_paged gpu_append; do xz -dc $S/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
cd $G
VECINFER_REQUIRE_GPU=1 VECINFER_REAL_KV=smollm2-kv.safetensors VECINFER_REAL_CODEBOOKS=cb-d4b8-d4b8-layer.safetensors \
  timeout 200 /tmp/gpu_attention --include-ignored --test-threads 1 > $OUT/gpu-attention.log 2>&1; echo "gpu_attention rc $?"
VECINFER_REQUIRE_GPU=1 timeout 100 /tmp/gpu_paged --include-ignored --test-threads 1 > $OUT/gpu-paged.log 2>&1; echo "gpu_paged rc $?"
VECINFER_REQUIRE_GPU=1 timeout 100 /tmp/gpu_append --include-ignored --test-threads 1 > $OUT/gpu-append.log 2>&1; echo "gpu_append rc $?"
grep -hE "^test result|FAILED|panicked" $OUT/gpu-*.log
cd - > /dev/null
timeout 150 /tmp/vi bench --shapes 1x32768,1x131072,8x32768 --codecs d4b8/d4b8 --split auto,12 --runs 30 \
  --json $OUT/bench-llama.json > $OUT/bench-llama.txt 2>&1; echo "bench llama rc $?"
timeout 150 /tmp/vi bench --shapes 1x32768,1x131072,8x32768 --codecs d4b8/d4b8 --heads 9 --kv-heads 3 --head-dim 64 --split auto \
  --runs 30 --json $OUT/bench-smollm2.json > $OUT/bench-smollm2.txt 2>&1; echo "bench smollm2 rc $?"
grep -hE "^ +[0-9]+ +[0-9]+ +d4b8" $OUT/bench-llama.txt $OUT/bench-smollm2.txt | cut -c1-150
timeout 200 /tmp/vi decode-bench --random-weights --caches fp16,d4b8/d4b8 --batches 1,4 --contexts 8192,131072 \
  --largest-at "" --json $OUT/decode-bench.json > $OUT/decode-bench.txt 2>&1; echo "decode-bench rc $?"
grep -E "graph step|lower|^(fp16|vecinfer)  " $OUT/decode-bench.txt | cut -c1-170
