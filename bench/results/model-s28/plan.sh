#!/usr/bin/env bash
# Session 28, H200 (carry .carry/s28b: per-head files head-K-V.safetensors and calib.txt; the
# binary and the model from evals.sh's call). A budget plan chosen among per-head pairs
# (`vecinfer plan --budget --refine`), then the plan before refining rebuilt from the printed choice.
# $1: budget (mean code bits), $2: choice pairs after the base d8b10-d8b8, $3: refine passes, $4: probe windows.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc
R=/root/s28; M=$R/model.gguf; cp .carry/s28b/* $R/
budget=$1; base=d8b10-d8b8; tag=$1-$3-$4
files=$(echo "$2" | tr ',' '\n' | sed "s#.*#$R/head-&.safetensors#" | paste -sd,)
start=$(date +%s)
timeout 550 $R/vi plan --model $M --codebooks $R/head-$base.safetensors --budget $budget --choices $files \
  --text $R/calib.txt --probe-device cuda --probe-windows $4 --refine $3 \
  --out $R/head-refined-$tag.safetensors > $OUT/plan-$tag.txt 2>&1
echo "plan rc $? in $(( $(date +%s) - start )) s"
grep -E "^(from the layers alone|chosen|refine|wrote)" $OUT/plan-$tag.txt | cut -c1-300
args=$(grep "^from the layers alone: " $OUT/plan-$tag.txt | grep -v "alone: ${base/-//} " |
  sed -E 's#^from the layers alone: (d[0-9]+b[0-9]+)/(d[0-9]+b[0-9]+)( per head)? bits [0-9.]+: layers (.*)$#--layer-codebooks \4='$R'/head-\1-\2.safetensors#')
$R/vi plan --codebooks $R/head-$base.safetensors $args --out $R/head-alone-$tag.safetensors
ls $R/head-*-$tag.safetensors
