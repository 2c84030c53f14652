#!/usr/bin/env bash
# Session 10: what the K d4b10 / V d8b12 mix costs in speed beside d4b8/d4b8 (both 2.0 code bits),
# default configs, H200: the fused kernel alone (SmolLM2 and Llama-3.1-8B shapes) and the
# whole-model decode step (random weights, SmolLM2's shape). Needs only the binary.
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
V=/root/vi; mkdir -p $V; xz -dc .carry/s10/vi.xz > $V/vi && chmod +x $V/vi
# What the mix costs in speed: the fused kernel alone (SmolLM2 and Llama-3.1-8B shapes) and the
# whole-model decode step, d4b10/d8b12 beside d4b8/d4b8, default configs.
for shape in "9 3 64 1x32768,1x131072,8x32768,64x8192,256x2048" "32 8 128 1x32768,8x32768,64x8192"; do
  set -- $shape
  timeout 150 $V/vi bench --heads $1 --kv-heads $2 --head-dim $3 --shapes $4 --codecs d4b8/d4b8,d4b10/d8b12 --runs 30 \
    --json $OUT/bench-h$1.json > $OUT/bench-h$1.txt 2>&1; echo "bench h$1 rc $?"
  grep -E "^ +[0-9]+ +[0-9]+ +d4b" $OUT/bench-h$1.txt | cut -c1-130
done
timeout 200 $V/vi decode-bench --random-weights --caches fp16,d4b8/d4b8,d4b10/d8b12 --batches 1,4,64 --contexts 8192,131072 --largest-at= \
  --json $OUT/decode.json > $OUT/decode.txt 2>&1; echo "decode rc $?"
grep -hE "lower|^(fp16|vecinfer) .* x " $OUT/decode.txt | cut -c1-150
cd $OUT && tar czf speed.tgz *.json *.txt && rm -f *.json *.txt
