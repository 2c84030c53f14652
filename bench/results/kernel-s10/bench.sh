#!/usr/bin/env bash
# Session 10, call 2 (after tests.sh on the same machine): A/B of the fused split merge against
# the session-9 binary (`old`: attention, then a merge launch), interleaved, two rounds: the
# kernel alone beside torch SDPA (Llama-3.1-8B and SmolLM2 shapes), then whole-model decode.
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s10k
for b in vecinfer-old vecinfer-new; do [ -x /tmp/$b ] || { xz -dc $S/$b.xz > /tmp/$b && chmod +x /tmp/$b; }; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for shape in "32 8 128 1x32768,1x131072,8x32768,64x8192,128x4096" "9 3 64 1x32768,1x131072,8x32768,64x8192,256x2048"; do
  set -- $shape; tag=h$1
  python3 $S/fp16_decode_baseline.py --heads $1 --kv-heads $2 --head-dim $3 --shapes $4 --json $OUT/sdpa-$tag.json > /dev/null 2>&1; echo "sdpa $tag rc $?"
  for round in 1 2; do for b in old new; do
    timeout 120 /tmp/vecinfer-$b bench --heads $1 --kv-heads $2 --head-dim $3 --shapes $4 --codecs d4b8/d4b8 \
      --baseline $OUT/sdpa-$tag.json --runs 30 --json $OUT/bench-$tag-$b-$round.json > $OUT/bench-$tag-$b-$round.txt 2>&1; echo "bench $tag $b round $round rc $?"
    grep -E "^ +[0-9]+ +[0-9]+ +d4b8" $OUT/bench-$tag-$b-$round.txt | cut -c1-130
  done; done
done
G="--random-weights --caches fp16,d4b8/d4b8 --batches 1,4,64 --contexts 8192,131072 --largest-at="
for b in old new; do
  timeout 150 /tmp/vecinfer-$b decode-bench $G --json $OUT/decode-$b.json > $OUT/decode-$b.txt 2>&1; echo "decode $b rc $?"
  grep -hE "lower|^(fp16|vecinfer) " $OUT/decode-$b.txt | cut -c1-150
done
cd $OUT && tar czf bench.tgz *.json *.txt && rm -f *.json *.txt
