#!/usr/bin/env bash
# Session 14, H100: the re-tuned engine keys at 16-64 sequences of 32k-128k ranked 3-7% slower
# by whole steps than in session 13's file. Same machine, interleaved: the landed binary with
# session 13's file (old) against the new binary with the re-tuned file (new), then the new
# binary with session 13's configs (the old file with the new fingerprint: the kernel change
# alone, same configs).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s14
for b in old new; do xz -dc $S/vi-$b.xz > /tmp/vi-$b && chmod +x /tmp/vi-$b; done
xz -dc $S/h100-old.json.xz > /tmp/h100-old.json
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
python3 - <<'PY'
import json
import lzma
d = json.load(lzma.open(".carry/s14/h100-old.json.xz"))
d["device"]["codegen"] = json.load(open("tuned-configs/nvidia-h100-80gb-hbm3.json"))["device"]["codegen"]
json.dump(d, open("/tmp/h100-oldcfg-newfp.json", "w"))
PY
G="--random-weights --caches d4b8/d4b8 --batches 16,64 --contexts 32768,131072 --largest-at= --steps 20"
for round in 1 2; do
  for v in old new newbin-oldcfg; do
    case $v in old) b=old; f=/tmp/h100-old.json;; new) b=new; f=$PWD/tuned-configs/nvidia-h100-80gb-hbm3.json;; *) b=new; f=/tmp/h100-oldcfg-newfp.json;; esac
    VECINFER_TUNED_CONFIGS=$f timeout 150 /tmp/vi-$b decode-bench $G --json $OUT/decode-$v-r$round.json > $OUT/decode-$v-r$round.txt 2>&1
    echo "round $round $v rc $?: $(grep -E '^vecinfer .* x ' $OUT/decode-$v-r$round.txt | sed -E 's/^vecinfer.* ([0-9]+) x +([0-9]+): eager ([0-9.]+) ms, graph ([0-9.]+) ms.*/\1x\2:\4/' | tr '\n' ' ')"
  done
done
grep -h "tuned for" $OUT/decode-*-r1.txt | sed -E 's/.*(tile [0-9]+ x [0-9]+ warps).*(b[0-9]+_s[0-9]+).*/\1 \2/' | sort | uniq -c
cd $OUT && tar czf large.tgz *.json *.txt && rm -f *.json *.txt
