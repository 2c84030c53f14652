#!/usr/bin/env bash
# Session 29, H200, after probe.sh: two more pairs with 2-bit values (carry .carry/s29c:
# head-d4b8-d4b8, head-d4b12-d4b10), probed the same way; the knapsack over all three logs.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc
R=/root/s29; cp .carry/s29c/* $R/
s=$(date +%s)
timeout 400 $R/vi plan --model $R/model.gguf --codebooks $R/head-d4b8-d4b8.safetensors --budget 3 \
  --choices $R/head-d4b12-d4b10.safetensors \
  --text $R/calib.txt --probe-device cuda --probe-windows 8 --out $R/probe2-plan.safetensors > $OUT/probe2.txt 2>&1
echo "plan rc $? in $(( $(date +%s) - s )) s"
python3 bench/results/model-s29/knapsack.py 1.251 bench/results/model-s28/h200-plan6/plan-1.251-0-8.txt \
  bench/results/model-s29/h200-probe/probe.txt $OUT/probe2.txt | tee $OUT/knapsack2.txt
args=$(grep "^args: " $OUT/knapsack2.txt | cut -c7-)
bash bench/results/model-s29/final.sh merged2 $args
