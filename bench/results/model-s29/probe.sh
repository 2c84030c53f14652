#!/usr/bin/env bash
# Session 29, H200, after evals.sh's set-up in /root/s29 (model, per-head files, calib.txt; carry
# .carry/s29b: head-d2b8-d8b8 and head-d4b12-d4b8): each layer alone at 2.5-bit pairs for the
# most sensitive layers of the 1.5-bit plan (4-bit keys, or 2-bit values), probed as session 28's
# plan (8 windows of calib.txt). The budget here only has to be feasible: knapsack.py merges
# these probes with session 28's and chooses.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc
R=/root/s29; cp .carry/s29b/* $R/
s=$(date +%s)
timeout 500 $R/vi plan --model $R/model.gguf --codebooks $R/head-d4b12-d8b8.safetensors --budget 3 \
  --choices $R/head-d2b8-d8b8.safetensors,$R/head-d4b12-d4b8.safetensors \
  --text $R/calib.txt --probe-device cuda --probe-windows 8 --out $R/probe-plan.safetensors > $OUT/probe.txt 2>&1
echo "plan rc $? in $(( $(date +%s) - s )) s"; grep -vE "alone at" $OUT/probe.txt | cut -c1-200
# The merged knapsack at the 1.5-bit plan's budget, then its plan over all of eval.txt.
for only in "" "--only d8b8-d8b8,d8b10-d8b8,d8b12-d8b8,d4b8-d8b8,d4b10-d8b8,d4b12-d8b8,d2b8-d8b8"; do
  python3 bench/results/model-s29/knapsack.py 1.251 bench/results/model-s28/h200-plan6/plan-1.251-0-8.txt $OUT/probe.txt $only | tee -a $OUT/knapsack.txt
done
args=$(grep "^args: " $OUT/knapsack.txt | head -1 | cut -c7-)
bash bench/results/model-s29/final.sh merged $args
