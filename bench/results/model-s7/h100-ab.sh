#!/usr/bin/env bash
# Session 7 on an H100, A/B in one command: `before` = the session-6 binary (.carry/m7), `after`
# = this session's (skinny projections by default up to 4 sequences, one wave of blocks for
# auto splits at few pairs). Whole-model decode (random weights of SmolLM2's shape) and the
# fused kernel at the batch-1 shapes beside torch SDPA FP16 (same command).
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
xz -dc .carry/m7/vecinfer.xz > /tmp/before && xz -dc .carry/s7/vecinfer.xz > /tmp/after && chmod +x /tmp/before /tmp/after
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
G="--random-weights --caches fp16,d4b8/d4b8 --batches 1,4,64 --contexts 8192,131072 --largest-at="
for b in before after; do
  timeout 200 /tmp/$b decode-bench $G --json $OUT/decode-$b.json > $OUT/decode-$b.txt 2>&1; echo "decode $b rc $?"
done
grep -hE "lower|graph step" $OUT/decode-before.txt $OUT/decode-after.txt | cut -c1-150
for shape in "32 8 128" "9 3 64"; do
  set -- $shape; tag=h$1
  python3 .carry/s7/fp16_decode_baseline.py --heads $1 --kv-heads $2 --head-dim $3 --shapes 1x32768,1x131072,8x32768 --json $OUT/sdpa-$tag.json > /dev/null 2>&1; echo "sdpa $tag rc $?"
  for b in before after; do
    timeout 120 /tmp/$b bench --heads $1 --kv-heads $2 --head-dim $3 --shapes 1x32768,1x131072,8x32768 --codecs d4b8/d4b8 \
      --baseline $OUT/sdpa-$tag.json --runs 30 --json $OUT/bench-$tag-$b.json > $OUT/bench-$tag-$b.txt 2>&1; echo "bench $tag $b rc $?"
    grep -E "^ +[0-9]+ +[0-9]+ +d4b8" $OUT/bench-$tag-$b.txt | cut -c1-130
  done
done
cd $OUT && tar czf h100-ab.tgz *.json *.txt && rm -f *.json *.txt
