#!/usr/bin/env bash
# Session 26, locally (2 cores): the CPU ranking before (a79f7a6, whole passes) and after (the
# fp16 prefix shared), same command; prints each one's time and ranking.
set -u
for bin in /tmp/vi-old target/release/vecinfer; do
  start=$(date +%s.%N)
  $bin calibrate --text ../shared/data/wikitext2/calib.txt --ctx 1024 --max-tokens 2048 \
    --methods vecinfer --k d4b8 --v d8b8 --layer-codecs top:1=d4b12/d4b10 \
    --probe-windows 1 --probe-ctx 1024 --out /tmp/probe-time.safetensors 2>&1 |
    grep -E "^layers by|trained in" | cut -c1-200
  echo "$bin: $(echo "$(date +%s.%N) - $start" | bc) s"
done
