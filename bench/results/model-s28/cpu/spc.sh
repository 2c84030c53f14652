#!/usr/bin/env bash
# CPU: per-head books with more k-means samples (the default gives a d8b10 head book ~21 samples per centroid).
cd /work/main
M=/root/.cache/vecinfer/models/SmolLM2-135M-Instruct.Q4_1.gguf
for spc in 128; do
  s=$(date +%s)
  nice -n 5 /tmp/vi-s28 calibrate --model $M --text ../shared/data/wikitext2/calib.txt --ctx 2048 --max-tokens 16384 --methods vecinfer --granularity head --samples-per-centroid $spc --k d8b10 --v d8b8 --also d8b8/d8b8 --out "out/s28/head-spc$spc-{k}-{v}.safetensors" > out/s28/calibrate-spc$spc.log 2>&1
  echo "calibrate spc $spc rc $? $(( $(date +%s) - s )) s"
  for f in head-spc$spc-d8b10-d8b8 head-spc$spc-d8b8-d8b8; do
    s=$(date +%s)
    nice -n 5 /tmp/vi-s28 eval --model $M --text ../shared/data/wikitext2/eval.txt --ctx 2048 --max-windows 4 \
      --sinks 4 --window int8 --residual 65 --no-attention-error --methods vecinfer --codebooks out/s28/$f.safetensors \
      --json out/s28/eval-$f.json > out/s28/eval-$f.txt 2>&1
    echo "$f rc $? $(( $(date +%s) - s )) s"; grep -E "^(vecinfer|fp16) " out/s28/eval-$f.txt | tail -1
  done
done
