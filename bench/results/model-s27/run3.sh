#!/usr/bin/env bash
# Session 27, H200 (carry .carry/m3, .carry/s27 and .carry/s27b: win-W.safetensors, plans from
# knap.py for the same 1.478 total bits at a W-token int8 window). Trading window tokens for
# code bits at 1.5 bits: each plan over all of eval.txt at its own --residual.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc
R=/root/s27; M=$R/model.gguf; mkdir -p $R; cp .carry/s27/* .carry/s27b/* $R/; xz -dc $R/vi.xz > $R/vi; chmod +x $R/vi
[ -f $M ] || { cp .carry/m3/gg-part-02 $R/ && cat $R/gg-part-00 $R/gg-part-01 $R/gg-part-02 > $M; }
sha256sum $M | cut -c1-16
[ -f $R/eval.txt ] || cp .carry/m3/eval.txt $R/
for w in 16 32 48 65 96; do
  timeout 60 $R/vi eval --model $M --device cuda --text $R/eval.txt --ctx 2048 --sinks 4 --window int8 \
    --no-attention-error --residual $w --methods fp16,vecinfer --codebooks $R/win-$w.safetensors \
    --json $OUT/eval-win-$w.json > $OUT/eval-win-$w.txt 2>&1
  echo "window $w rc $?"; grep -E "^(vecinfer|fp16) " $OUT/eval-win-$w.txt | tail -2 | cut -c1-120
done
