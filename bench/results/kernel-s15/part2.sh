#!/usr/bin/env bash
# Session 15, part 2 (same warm machine): the rest of part 1's keys if it was cut short, then on
# the H100 the paged keys (guided) and SmolLM2's contiguous keys (guided), and on both GPUs the
# engine's 15 paged64 keys (exhaustive).
source bench/results/kernel-s15/common.sh
[ -f $F ] || { echo "no $F: part 1 did not run on this machine"; exit 1; }
start=$(date +%s)
timeout 150 $R/vi tune --strategy exhaustive --file $F > $OUT/tune-exhaustive-rest.log 2>&1; echo "exhaustive rest rc $? in $(( $(date +%s) - start )) s"
case "$GPU" in *H100*)
  start=$(date +%s)
  timeout 200 $R/vi tune --strategy guided --layouts paged --codecs d4b8/d4b8,d8b12/d8b8 --pages 16,64,256 --file $F --baseline $R/sdpa-baseline.json --table $OUT/table-paged.md > $OUT/tune-paged.log 2>&1; echo "paged rc $? in $(( $(date +%s) - start )) s"
  start=$(date +%s)
  timeout 150 $R/vi tune --strategy guided --heads 9 --kv-heads 3 --head-dim 64 --shapes 1x32768,1x131072,8x32768,64x8192,256x2048 --codecs d4b8/d4b8 --file $F --baseline $R/sdpa-smollm2.json --table $OUT/table-smollm2.md > $OUT/tune-smollm2.log 2>&1; echo "smollm2 rc $? in $(( $(date +%s) - start )) s"
  tail -n 14 $OUT/table-paged.md | cut -c1-200; tail -n 7 $OUT/table-smollm2.md | cut -c1-200;;
esac
start=$(date +%s)
timeout 330 $R/vi tune --shapes $ENGINE_SHAPES --codecs d4b8/d4b8 --heads 9 --kv-heads 3 --head-dim 64 \
  --layouts paged64 --strategy exhaustive --runs 40 --file $F --table $OUT/table-engine.md > $OUT/tune-engine.log 2>&1; echo "engine rc $? in $(( $(date +%s) - start )) s"
tail -n 17 $OUT/table-engine.md | cut -c1-200
gzip -c $F > $OUT/part2.json.gz
