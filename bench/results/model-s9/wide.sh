#!/usr/bin/env bash
# Session 9, real-model call 3 of 3 (after session 7's real-part.sh a and b): the 512-token
# tiles at head dim 64 and <= 4 sequences back on (`s9w`). gpu-check on 16 windows (with the
# entry check at 4 entries, where the wide tiles run); the 16 windows again at 4 per batch
# (wide tiles, skinny projections) against the CPU's NLLs from spread-h200; then whole-model
# decode steps with the tiles off (`s9`) and on (`s9w`).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH
V=/root/vi; cp .carry/m6/c/mpart-* $V/; export VECINFER_CACHE_DIR=$V/cache
M=$V/cache/models/SmolLM2-135M-Instruct.Q4_1.gguf; mkdir -p $V/cache/models
[ -s $M ] || cat $V/mpart-aa $V/mpart-ab $V/mpart-ac | xz -d > $M; sha256sum $M | cut -c1-16
for b in s9 s9w; do xz -dc .carry/$b/vi.xz > $V/$b && chmod +x $V/$b; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
CB=$V/cb-d4b8-d4b8-layer-max.safetensors
timeout 330 $V/s9w gpu-check --skip-tiny --model $M --codebooks $CB --text $V/eval.txt --ctx 2048 --sinks 4 \
  --json $OUT/check.json > $OUT/check.txt 2>&1; echo "gpu-check rc $?"
grep -E "PASS|FAIL" $OUT/check.txt | grep -v "generation" | cut -c1-330
timeout 100 $V/s9w eval --model $M --codebooks $CB --text $V/eval.txt --ctx 2048 --max-windows 16 --sinks 4 --device cuda \
  --methods vecinfer --batch 4 --projections skinny --json $OUT/gpu-4-skinny-wide.json > $OUT/gpu-4-skinny-wide.txt 2>&1; echo "eval rc $?"
python3 - <<PY
import json
cpu=json.load(open('bench/results/model-s9/spread-h200/cpu.json'))
c=[r for r in cpu['results'] if r['method']=='vecinfer'][0]
d=json.load(open('$OUT/gpu-4-skinny-wide.json'))
r=[r for r in d['results'] if r['method']=='vecinfer'][0]
diff=[a-b for a,b in zip(r['window_nll'],c['window_nll'])]
print('4-wide  ', ' '.join(f'{x:+8.1f}' for x in diff), f' sum {sum(diff):+.1f} ppl {r["perplexity"]:.4f} vs cpu {c["perplexity"]:.4f}', r.get('cache',''))
print(d['gpu'][0]['cache'])
PY
G="--random-weights --caches fp16,d4b8/d4b8 --batches 1,4 --contexts 8192,131072 --largest-at="
for b in s9 s9w; do
  timeout 100 $V/$b decode-bench $G --json $OUT/decode-$b.json > $OUT/decode-$b.txt 2>&1; echo "decode $b rc $?"
  grep -E "^(fp16|vecinfer) " $OUT/decode-$b.txt | cut -c1-150
done
