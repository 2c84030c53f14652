#!/usr/bin/env bash
# Session 8, H100, one command: the kernels with `griddepcontrol` (programmatic dependent
# launch) in the fused attention, its merge, the append and the FP16 cache's kernels, and the
# merge that issues its loads before the empty-split test. First the GPU tests (contiguous,
# paged, append; real SmolLM2 K/V), the engine's checks on the small model with memcheck and
# racecheck, then the A/B against the session-7 binary (`old`): whole-model decode (dependent
# launches on and off for `new`), and the fused kernel alone beside torch SDPA.
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
S=$PWD/.carry/s8; G=/tmp/kv; mkdir -p $G
cp $S/cb-d4b8-d4b8-layer.safetensors $G/ && xz -dc $S/smollm2-kv.safetensors.xz > $G/smollm2-kv.safetensors
for b in vecinfer-old vecinfer-new gpu_attention gpu_paged gpu_append; do xz -dc $S/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
cd $G
VECINFER_REQUIRE_GPU=1 VECINFER_REAL_KV=smollm2-kv.safetensors VECINFER_REAL_CODEBOOKS=cb-d4b8-d4b8-layer.safetensors \
  timeout 200 /tmp/gpu_attention --include-ignored --test-threads 1 > $OUT/gpu-attention.log 2>&1; echo "gpu_attention rc $?"
VECINFER_REQUIRE_GPU=1 timeout 100 /tmp/gpu_paged --include-ignored --test-threads 1 > $OUT/gpu-paged.log 2>&1; echo "gpu_paged rc $?"
VECINFER_REQUIRE_GPU=1 timeout 100 /tmp/gpu_append --include-ignored --test-threads 1 > $OUT/gpu-append.log 2>&1; echo "gpu_append rc $?"
grep -hE "^test result|FAILED|panicked" $OUT/gpu-*.log
cd - > /dev/null
timeout 120 /tmp/vecinfer-new gpu-check --json $OUT/check-tiny.json > $OUT/check-tiny.txt 2>&1; echo "gpu-check rc $?"
grep -E "PASS|FAIL|passed" $OUT/check-tiny.txt | cut -c1-150
timeout 150 compute-sanitizer --tool memcheck --print-limit 20 /tmp/vecinfer-new gpu-check > $OUT/memcheck.txt 2>&1; echo "memcheck rc $?"; tail -1 $OUT/memcheck.txt
timeout 200 compute-sanitizer --tool racecheck --print-limit 20 /tmp/vecinfer-new gpu-check > $OUT/racecheck.txt 2>&1; echo "racecheck rc $?"; tail -1 $OUT/racecheck.txt
G="--random-weights --caches fp16,d4b8/d4b8 --batches 1,4,64 --contexts 8192,131072 --largest-at="
timeout 200 /tmp/vecinfer-old decode-bench $G --json $OUT/decode-old.json > $OUT/decode-old.txt 2>&1; echo "decode old rc $?"
timeout 300 /tmp/vecinfer-new decode-bench $G --dependent-launches both --json $OUT/decode-new.json > $OUT/decode-new.txt 2>&1; echo "decode new rc $?"
grep -hE "lower|graph step" $OUT/decode-old.txt $OUT/decode-new.txt | cut -c1-150
grep -hE "^(fp16|vecinfer) " $OUT/decode-new.txt | cut -c1-150
for shape in "32 8 128" "9 3 64"; do
  set -- $shape; tag=h$1
  python3 $S/fp16_decode_baseline.py --heads $1 --kv-heads $2 --head-dim $3 --shapes 1x32768,1x131072,8x32768,64x8192 --json $OUT/sdpa-$tag.json > /dev/null 2>&1; echo "sdpa $tag rc $?"
  for b in old new; do
    timeout 120 /tmp/vecinfer-$b bench --heads $1 --kv-heads $2 --head-dim $3 --shapes 1x32768,1x131072,8x32768,64x8192 --codecs d4b8/d4b8 \
      --baseline $OUT/sdpa-$tag.json --runs 30 --json $OUT/bench-$tag-$b.json > $OUT/bench-$tag-$b.txt 2>&1; echo "bench $tag $b rc $?"
    grep -E "^ +[0-9]+ +[0-9]+ +d4b8" $OUT/bench-$tag-$b.txt | cut -c1-130
  done
done
cd $OUT && tar czf pdl.tgz *.json *.txt *.log && rm -f *.json *.txt *.log
