#!/usr/bin/env bash
# Session 9, real-model call 3 of 3 (after session 7's real-part.sh a and b): the batch-entry
# check (each window in one batch must score and store what it does alone) on the small model and
# SmolLM2, with every other gpu-check; then the runtime's paged and append GPU tests.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH
V=/root/vi; cp .carry/m6/c/mpart-* $V/; export VECINFER_CACHE_DIR=$V/cache
M=$V/cache/models/SmolLM2-135M-Instruct.Q4_1.gguf; mkdir -p $V/cache/models
[ -s $M ] || cat $V/mpart-aa $V/mpart-ab $V/mpart-ac | xz -d > $M; sha256sum $M | cut -c1-16
S=.carry/${BIN:-s9}
for b in vi gpu_paged gpu_append; do xz -dc $S/$b.xz > $V/$b && chmod +x $V/$b; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout 400 $V/vi gpu-check --model $M --codebooks $V/cb-d4b8-d4b8-layer-max.safetensors --text $V/eval.txt --ctx 2048 --windows ${WINDOWS:-5} --sinks 4 \
  --json $OUT/check.json > $OUT/check.txt 2>&1; echo "gpu-check rc $?"
grep -E "PASS|FAIL" $OUT/check.txt | cut -c1-400
python3 -c "
import json; d=json.load(open('$OUT/check.json'))
for c in d:
    v=c.get('values') or {}
    if 'cpu' in v: print(c['name'][:50], 'cpu', [round(x,3) for x in v['cpu']['window_nll']], 'gpu', [round(x,3) for x in v['gpu_graph']['window_nll']])
"
cd $V
VECINFER_REQUIRE_GPU=1 timeout 100 ./gpu_paged --include-ignored --test-threads 1 > $OUT/gpu-paged.log 2>&1; echo "gpu_paged rc $?"
VECINFER_REQUIRE_GPU=1 timeout 100 ./gpu_append --include-ignored --test-threads 1 > $OUT/gpu-append.log 2>&1; echo "gpu_append rc $?"
grep -hE "^test result|FAILED|panicked" $OUT/gpu-*.log
