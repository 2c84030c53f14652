#!/usr/bin/env bash
# Session 14, H100: the fused kernel's prologue at batch 1 (codebook copies by cp.async, all in
# flight; the first tile's code lines asked of L2 before the query transform). GPU tests, gpu-check,
# memcheck and racecheck with the new binary; then decode steps old vs new (the new binary reads
# the shipped file with only its codegen fingerprint replaced: the same configs), interleaved;
# then the kernel alone, old vs new, default config, beside torch SDPA.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
S=$PWD/.carry/s14
for b in vi-old vi-new gpu_attention gpu_paged gpu_append; do xz -dc $S/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for t in gpu_attention gpu_paged gpu_append; do
  VECINFER_REQUIRE_GPU=1 timeout 200 /tmp/$t --include-ignored --test-threads 1 > $OUT/$t.log 2>&1; echo "$t rc $?: $(grep -E '^test result' $OUT/$t.log)"
done
timeout 100 /tmp/vi-new gpu-check > $OUT/check.txt 2>&1; echo "gpu-check rc $?: $(grep -cE '^PASS' $OUT/check.txt) PASS"; grep -E "^FAIL" $OUT/check.txt | cut -c1-200
timeout 200 compute-sanitizer --tool memcheck --print-limit 20 /tmp/vi-new gpu-check > $OUT/memcheck.txt 2>&1; echo "memcheck rc $?: $(grep -E 'ERROR SUMMARY' $OUT/memcheck.txt)"
timeout 300 compute-sanitizer --tool racecheck --print-limit 20 /tmp/vi-new gpu-check --no-eval > $OUT/racecheck.txt 2>&1; echo "racecheck rc $?: $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' $OUT/racecheck.txt)"
NEWFP=$(cat $S/fingerprint)
python3 - "$NEWFP" <<'PY'
import json, sys
d = json.load(open("tuned-configs/nvidia-h100-80gb-hbm3.json"))
d["device"]["codegen"] = sys.argv[1]
json.dump(d, open("/tmp/h100-new.json", "w"))
PY
G="--random-weights --caches fp16,d4b8/d4b8 --batches 1,4 --contexts 8192,32768,131072 --largest-at= --steps 30"
for round in 1 2; do
  for b in old new; do
    if [ $b = new ]; then export VECINFER_TUNED_CONFIGS=/tmp/h100-new.json; else unset VECINFER_TUNED_CONFIGS; fi
    timeout 150 /tmp/vi-$b decode-bench $G --json $OUT/decode-$b-r$round.json > $OUT/decode-$b-r$round.txt 2>&1
    echo "round $round $b rc $?: $(grep -E '^(fp16|vecinfer) .* x ' $OUT/decode-$b-r$round.txt | sed -E 's/^(fp16|vecinfer).* ([0-9]+) x +([0-9]+): eager ([0-9.]+) ms, graph ([0-9.]+) ms.*/\1 \2x\3:\5/' | tr '\n' ' ')"
    grep -iE "tuned|fingerprint|default heuristic" $OUT/decode-$b-r$round.txt | head -2
  done
done
unset VECINFER_TUNED_CONFIGS
for shape in "32 8 128" "9 3 64"; do
  set -- $shape; tag=h$1
  python3 $S/fp16_decode_baseline.py --heads $1 --kv-heads $2 --head-dim $3 --shapes 1x32768,1x131072,8x32768,64x8192 --json $OUT/sdpa-$tag.json > /dev/null 2>&1; echo "sdpa $tag rc $?"
  for b in old new; do
    timeout 120 /tmp/vi-$b bench --heads $1 --kv-heads $2 --head-dim $3 --shapes 1x32768,1x131072,8x32768,64x8192 --codecs d4b8/d4b8 \
      --baseline $OUT/sdpa-$tag.json --runs 30 --json $OUT/bench-$tag-$b.json > $OUT/bench-$tag-$b.txt 2>&1; echo "bench $tag $b rc $?"
    grep -E "d4b8" $OUT/bench-$tag-$b.txt | tail -5 | cut -c1-160
  done
done
cd $OUT && tar czf prologue.tgz *.json *.txt *.log && rm -f *.json *.txt *.log
