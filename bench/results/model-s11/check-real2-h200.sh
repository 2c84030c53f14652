#!/usr/bin/env bash
# Session 11, H200: as check-real2.sh (H100), after the H200 file took the engine's tuned paged64 SmolLM2 keys: the checks with
# the engine taking them by default (tuned-configs/ from the working folder). Run after five
# calls that each copy one part of the xz GGUF (.carry/m11b/a?/part-a?, 18 MB each: the tree
# grew past what session 7's 31 MB parts allow) into /root/vi, and one that copies .carry/s11x
# (the 2-bit codebooks, eval.txt, this binary). Then: gpu-check on the small model (its VQ
# checks have SmolLM2's kernel shape, so they take the tuned keys) and on SmolLM2 (8 windows of
# 2048, 4 sinks), and decode steps with the shipped file against the heuristic.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH
V=/root/vi; export VECINFER_CACHE_DIR=$V/cache
M=$V/cache/models/SmolLM2-135M-Instruct.Q4_1.gguf; mkdir -p $V/cache/models
# A part missing leaves a truncated file: check the hash and assemble again when it differs.
[ "$(sha256sum $M 2>/dev/null | cut -c1-16)" = b179c9523d0e6a0f ] || { rm -f $M; cat $V/part-a? | xz -d > $M; }; sha256sum $M | cut -c1-16
xz -dc $V/vi.xz > $V/vi && chmod +x $V/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
R=/tmp/c; mkdir -p $R
timeout 150 $V/vi gpu-check --json $R/check-tiny.json > $R/check-tiny.txt 2>&1; echo "gpu-check tiny rc $?"
grep -E "PASS|FAIL" $R/check-tiny.txt | cut -c1-160
timeout 400 $V/vi gpu-check --model $M --codebooks $V/cb-d4b8-d4b8-layer-max.safetensors --text $V/eval.txt --ctx 2048 --windows 8 --sinks 4 --skip-tiny \
  --json $R/check.json > $R/check.txt 2>&1; echo "gpu-check rc $?"
grep -E "PASS|FAIL" $R/check.txt | grep -v generation | cut -c1-300
cp $R/check*.txt $R/check*.json $OUT/
# Which config the checks' sessions took (the same choose_config): 8 and 4 windows of 2048.
timeout 100 $V/vi decode-bench --random-weights --caches d4b8/d4b8 --batches 4,8 --contexts 2048 --largest-at= --steps 5 --json $R/which.json > /dev/null 2>&1
python3 -c "
import json; d=json.load(open('$R/which.json')); rows=d['rows'] if isinstance(d,dict) else d
[print('config at', r['batch'], 'x', r['context'], ':', r['cache_kernel']) for r in rows]" | tee $OUT/which-config.txt
