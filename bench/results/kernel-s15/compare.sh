#!/usr/bin/env bash
# Session 15, H100, after part1-3 on the same warm machine: whole decode steps (SmolLM2 shape,
# random weights, graph) of the landed binary with the shipped file (old) against the new binary
# (code addresses once per page + the launch-bound knob) with the file part1-3 made (new),
# interleaved, two rounds.
source bench/results/kernel-s15/common.sh
[ -f $F ] || { echo "no $F: parts 1-3 did not run on this machine"; exit 1; }
xz -dc $S/vi-old.xz > /tmp/vi-old && chmod +x /tmp/vi-old
# newbin-oldcfg: the shipped file's configs with this binary's fingerprint (the kernel change
# alone, same configs; the bound is off in all of them).
python3 - "$F" <<'PY'
import json, sys
d = json.load(open("tuned-configs/nvidia-h100-80gb-hbm3.json"))
d["device"]["codegen"] = json.load(open(sys.argv[1]))["device"]["codegen"]
json.dump(d, open("/tmp/h100-oldcfg-newfp.json", "w"))
PY
G="--random-weights --caches d4b8/d4b8 --batches ${BATCHES:-1,16,64} --contexts ${CONTEXTS:-8192,32768,131072} --largest-at= --steps 20"
for round in $(seq ${ROUNDS:-2}); do
  for v in ${VARIANTS:-old new}; do
    case $v in old) b=/tmp/vi-old; f=$PWD/tuned-configs/nvidia-h100-80gb-hbm3.json;; new) b=$R/vi; f=$F;; *) b=$R/vi; f=/tmp/h100-oldcfg-newfp.json;; esac
    VECINFER_TUNED_CONFIGS=$f timeout ${STEP_LIMIT:-200} $b decode-bench $G --json $OUT/decode-$v-r$round.json > $OUT/decode-$v-r$round.txt 2>&1
    echo "round $round $v rc $?: $(grep -E '^vecinfer .* x ' $OUT/decode-$v-r$round.txt | sed -E 's/^vecinfer.* ([0-9]+) x +([0-9]+): eager ([0-9.]+) ms, graph ([0-9.]+) ms.*/\1x\2:\4/' | tr '\n' ' ')"
  done
done
grep -h "tuned for" $OUT/decode-*-r1.txt | cut -c1-220 | sort | uniq -c
cd $OUT && tar czf compare-${TAG:-1}.tgz *.json *.txt && rm -f *.json *.txt
