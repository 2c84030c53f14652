#!/usr/bin/env bash
# Session 29, H200: session 28's best 1.5-bit plan (6 per-head pairs) rebuilt from its files,
# and the same plan with its d4b12 layers taking one book per layer (mixA), over all of
# eval.txt (60 windows, ctx 2048, 4 int8 sinks, int8 window of 65).
# Carry .carry/s29a (vi.xz, the per-head files head-K-V, the per-layer files layer-K-V,
# calib.txt) after the model parts went to /root/s29 (.carry/m1, m2), then .carry/m3.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc
R=/root/s29; M=$R/model.gguf
[ -x $R/vi ] || { xz -dc $R/vi.xz > $R/vi; chmod +x $R/vi; }
[ -f $M ] || { cp .carry/m3/gg-part-02 $R/ && cat $R/gg-part-00 $R/gg-part-01 $R/gg-part-02 > $M; }
sha256sum $M | cut -c1-16
h() { echo $R/head-$1-d8b8.safetensors; }
best="--codebooks $(h d8b8) --layer-codebooks 3,26=$(h d8b10) --layer-codebooks 0,2,8,14-15,21-22,24,28=$(h d8b12)"
$R/vi plan $best --layer-codebooks 7,17-18,20,23=$(h d4b12) --out $R/best6.safetensors | cut -c1-200
$R/vi plan $best --layer-codebooks 7,17-18,20,23=$R/layer-d4b12-d8b8.safetensors --out $R/mixA.safetensors | cut -c1-200
for p in "$@"; do
  s=$(date +%s)
  timeout 120 $R/vi eval --model $M --device cuda --text $R/eval.txt --ctx 2048 --sinks 4 --window int8 \
    --no-attention-error --residual 65 --methods fp16,vecinfer --codebooks $R/$p.safetensors \
    --json $OUT/eval-$p.json > $OUT/eval-$p.txt 2>&1
  echo "$p rc $? $(( $(date +%s) - s )) s"; grep -E "^(vecinfer|fp16) " $OUT/eval-$p.txt | tail -2 | cut -c1-120
done
