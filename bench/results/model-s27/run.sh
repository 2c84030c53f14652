#!/usr/bin/env bash
# Session 27, H200, call 3 (carry .carry/m3 and .carry/s27: the binary, calib.txt and the
# calibrate files of the pairs, trained locally on 2 cores). A budget plan chosen from the files
# (`vecinfer plan --budget`) with --refine, the plan before refining rebuilt from the printed
# choice, and both evaluated by the GPU kernels over all of eval.txt.
# $1: the budget (mean code bits); $2: the choice pairs (K-V names of cb-K-V.safetensors,
# comma-separated, after the base d8b10-d8b8); $3: refine passes; $4: probe windows.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc
R=/root/s27; M=$R/model.gguf; mkdir -p $R; cp .carry/s27/* $R/; xz -dc $R/vi.xz > $R/vi; chmod +x $R/vi
[ -f $M ] || { cp .carry/m3/gg-part-02 $R/ && cat $R/gg-part-00 $R/gg-part-01 $R/gg-part-02 > $M; }
sha256sum $M | cut -c1-16
[ -f $R/eval.txt ] || cp .carry/m3/eval.txt $R/
budget=$1; base=d8b10-d8b8; tag=$1-$3-$4
files=$(echo "$2" | tr ',' '\n' | sed "s#.*#$R/cb-&.safetensors#" | paste -sd,)
start=$(date +%s)
timeout 480 $R/vi plan --model $M --codebooks $R/cb-$base.safetensors --budget $budget --choices $files \
  --text $R/calib.txt --probe-device cuda --probe-windows $4 --refine $3 \
  --out $R/refined-$tag.safetensors > $OUT/plan-$tag.txt 2>&1
echo "plan rc $? in $(( $(date +%s) - start )) s"
grep -E "^(from the layers alone|chosen|refine|wrote)" $OUT/plan-$tag.txt | cut -c1-300
# The plan before refining, from the printed choice: every pair but the base by its layers.
args=$(grep "^from the layers alone: " $OUT/plan-$tag.txt | grep -v "alone: ${base/-//} " |
  sed -E 's#^from the layers alone: (d[0-9]+b[0-9]+)/(d[0-9]+b[0-9]+) bits [0-9.]+: layers (.*)$#--layer-codebooks \3='$R'/cb-\1-\2.safetensors#')
$R/vi plan --codebooks $R/cb-$base.safetensors $args --out $R/alone-$tag.safetensors
for p in alone refined; do
  [ -f $R/$p-$tag.safetensors ] || continue
  timeout 60 $R/vi eval --model $M --device cuda --text $R/eval.txt --ctx 2048 --sinks 4 --window int8 \
    --no-attention-error --residual 65 --methods fp16,vecinfer --codebooks $R/$p-$tag.safetensors \
    --json $OUT/eval-$p-$tag.json > $OUT/eval-$p-$tag.txt 2>&1
  echo "eval $p rc $?"; grep -E "^(vecinfer|fp16) " $OUT/eval-$p-$tag.txt | tail -2 | cut -c1-120
done
echo "total $(( $(date +%s) - start )) s"
