#!/usr/bin/env bash
# Session 10, call 1: the fused split merge (the last split of each (batch entry, KV head) to
# finish merges them all, in the attention launch). GPU tests (every variant, 3 launches over
# one workspace each, bit-identical; paged; append; real SmolLM2 K/V), the engine's checks on
# the small model, memcheck and racecheck.
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
S=$PWD/.carry/s10k; G=/tmp/kv; mkdir -p $G
cp $S/cb-d4b8-d4b8-layer.safetensors $G/ && xz -dc $S/smollm2-kv.safetensors.xz > $G/smollm2-kv.safetensors
for b in vecinfer-old vecinfer-new gpu_attention gpu_paged gpu_append; do xz -dc $S/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
cd $G
VECINFER_REQUIRE_GPU=1 VECINFER_REAL_KV=smollm2-kv.safetensors VECINFER_REAL_CODEBOOKS=cb-d4b8-d4b8-layer.safetensors \
  timeout 240 /tmp/gpu_attention --include-ignored --test-threads 1 > $OUT/gpu-attention.log 2>&1; echo "gpu_attention rc $?"
VECINFER_REQUIRE_GPU=1 timeout 100 /tmp/gpu_paged --include-ignored --test-threads 1 > $OUT/gpu-paged.log 2>&1; echo "gpu_paged rc $?"
VECINFER_REQUIRE_GPU=1 timeout 100 /tmp/gpu_append --include-ignored --test-threads 1 > $OUT/gpu-append.log 2>&1; echo "gpu_append rc $?"
grep -hE "^test result|FAILED|panicked" $OUT/gpu-*.log
cd - > /dev/null
timeout 100 /tmp/vecinfer-new gpu-check --json $OUT/check-tiny.json > $OUT/check-tiny.txt 2>&1; echo "gpu-check rc $?"
grep -E "PASS|FAIL|passed" $OUT/check-tiny.txt | cut -c1-150
timeout 150 compute-sanitizer --tool memcheck --print-limit 20 /tmp/vecinfer-new gpu-check > $OUT/memcheck.txt 2>&1; echo "memcheck rc $?"; tail -1 $OUT/memcheck.txt
timeout 120 compute-sanitizer --tool racecheck --print-limit 20 /tmp/vecinfer-new gpu-check --no-eval > $OUT/racecheck.txt 2>&1; echo "racecheck rc $?"; tail -1 $OUT/racecheck.txt
