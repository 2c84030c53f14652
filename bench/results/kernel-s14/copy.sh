#!/usr/bin/env bash
# Session 14, H100: which half of prologue.sh's change lost. old (landed), A (first tile's code
# lines asked of L2 early, the codebook copy as before), B (A + the codebook copies by cp.async:
# prologue.sh's new), C (A + the copy with every load of a thread in flight before its stores).
# gpu-check and memcheck for C; the kernel alone (default config) beside SDPA, then decode steps.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
S=$PWD/.carry/s14
for b in old A B C; do xz -dc $S/vi-$b.xz > /tmp/vi-$b && chmod +x /tmp/vi-$b; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout 100 /tmp/vi-C gpu-check > $OUT/check-C.txt 2>&1; echo "gpu-check C rc $?: $(grep -cE '^PASS' $OUT/check-C.txt) PASS"; grep -E "^FAIL" $OUT/check-C.txt | cut -c1-200
timeout 200 compute-sanitizer --tool memcheck --print-limit 20 /tmp/vi-C gpu-check > $OUT/memcheck-C.txt 2>&1; echo "memcheck C rc $?: $(grep -E 'ERROR SUMMARY' $OUT/memcheck-C.txt)"
for shape in "32 8 128" "9 3 64"; do
  set -- $shape; tag=h$1
  python3 $S/fp16_decode_baseline.py --heads $1 --kv-heads $2 --head-dim $3 --shapes 1x32768,1x131072,8x32768,64x8192 --json $OUT/sdpa-$tag.json > /dev/null 2>&1; echo "sdpa $tag rc $?"
  for round in 1 2; do for b in old A B C; do
    timeout 120 /tmp/vi-$b bench --heads $1 --kv-heads $2 --head-dim $3 --shapes 1x32768,1x131072,8x32768,64x8192 --codecs d4b8/d4b8 \
      --baseline $OUT/sdpa-$tag.json --runs 30 --json $OUT/bench-$tag-$b-r$round.json > $OUT/bench-$tag-$b-r$round.txt 2>&1
    echo "bench $tag $b r$round rc $?: $(grep -E '^ +[0-9]+ +[0-9]+ +d4b8' $OUT/bench-$tag-$b-r$round.txt | awk '{print $1"x"$2":"$7}' | tr '\n' ' ')"
  done; done
done
for b in A C; do
python3 - "$(cat $S/fingerprint-$b)" $b <<'PY'
import json, sys
d = json.load(open("tuned-configs/nvidia-h100-80gb-hbm3.json"))
d["device"]["codegen"] = sys.argv[1]
json.dump(d, open(f"/tmp/h100-{sys.argv[2]}.json", "w"))
PY
done
G="--random-weights --caches d4b8/d4b8 --batches 1,4 --contexts 32768,131072 --largest-at= --steps 30"
for round in 1 2; do
  for b in old A C; do
    if [ $b = old ]; then unset VECINFER_TUNED_CONFIGS; else export VECINFER_TUNED_CONFIGS=/tmp/h100-$b.json; fi
    timeout 150 /tmp/vi-$b decode-bench $G --json $OUT/decode-$b-r$round.json > $OUT/decode-$b-r$round.txt 2>&1
    echo "round $round $b rc $?: $(grep -E '^(fp16|vecinfer) .* x ' $OUT/decode-$b-r$round.txt | sed -E 's/^(fp16|vecinfer).* ([0-9]+) x +([0-9]+): eager ([0-9.]+) ms, graph ([0-9.]+) ms.*/\1 \2x\3:\5/' | tr '\n' ' ')"
  done
done
cd $OUT && tar czf copy.tgz *.json *.txt && rm -f *.json *.txt
