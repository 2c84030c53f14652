#!/usr/bin/env bash
# Session 10, real-model call 3 of 3 (after session 7's real-part.sh a and b): session 9's
# final binary (engine commits after its last device check) gpu-check on SmolLM2 (8 windows of
# 2048, 4 sinks; the perplexity check also at 4 per batch; entries with rotations/reversed).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH
V=/root/vi; cp .carry/m6/c/mpart-* $V/; export VECINFER_CACHE_DIR=$V/cache
M=$V/cache/models/SmolLM2-135M-Instruct.Q4_1.gguf; mkdir -p $V/cache/models
[ -s $M ] || cat $V/mpart-aa $V/mpart-ab $V/mpart-ac | xz -d > $M; sha256sum $M | cut -c1-16
xz -dc .carry/s10/vi.xz > $V/vi && chmod +x $V/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout 520 $V/vi gpu-check --model $M --codebooks $V/cb-d4b8-d4b8-layer-max.safetensors --text $V/eval.txt --ctx 2048 --windows 8 --sinks 4 --skip-tiny \
  --json $OUT/check.json > $OUT/check.txt 2>&1; echo "gpu-check rc $?"
grep -E "PASS|FAIL" $OUT/check.txt | grep -v generation | cut -c1-400
