#!/usr/bin/env bash
# Session 9, real-model call 3 of 3 (after session 7's real-part.sh a and b): how far the 2-bit
# GPU perplexity moves with the projections' rounding. The same 16 windows of 2048: the CPU
# reference, and the GPU at 8 windows per batch with the skinny and with the cuBLAS projections
# and at 16 per batch (cuBLAS); each window's NLL in the JSONs.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH
V=/root/vi; cp .carry/m6/c/mpart-* $V/; export VECINFER_CACHE_DIR=$V/cache
M=$V/cache/models/SmolLM2-135M-Instruct.Q4_1.gguf; mkdir -p $V/cache/models
[ -s $M ] || cat $V/mpart-aa $V/mpart-ab $V/mpart-ac | xz -d > $M; sha256sum $M | cut -c1-16
xz -dc .carry/s9/vi.xz > $V/vi && chmod +x $V/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
A="--model $M --codebooks $V/cb-d4b8-d4b8-layer-max.safetensors --text $V/eval.txt --ctx 2048 --max-windows 16 --sinks 4"
(timeout 300 $V/vi eval $A --methods vecinfer --no-attention-error --json $OUT/cpu.json > $OUT/cpu.txt 2>&1; echo "cpu rc $?" >> $OUT/cpu.txt) &
for run in "8 skinny" "8 cublas" "16 cublas"; do
  set -- $run
  timeout 200 $V/vi eval $A --device cuda --methods fp16,vecinfer --batch $1 --projections $2 --json $OUT/gpu-$1-$2.json > $OUT/gpu-$1-$2.txt 2>&1; echo "gpu $1 $2 rc $?"
done
wait; tail -1 $OUT/cpu.txt
python3 - <<PY
import json
cpu=json.load(open('$OUT/cpu.json'))
c=[r for r in cpu['results'] if r['method']=='vecinfer'][0]['window_nll']
print('cpu      ', ' '.join(f'{x:8.1f}' for x in c))
for run in ['8-skinny','8-cublas','16-cublas']:
    d=json.load(open(f'$OUT/gpu-{run}.json'))
    for r in d['results']:
        if r['method']!='vecinfer': continue
        g=r['window_nll']; diff=[a-b for a,b in zip(g,c)]
        print(f'{run:9}', ' '.join(f'{x:+8.1f}' for x in diff), f' sum {sum(diff):+.1f} ppl {r["perplexity"]:.4f} vs cpu {[r for r in cpu["results"] if r["method"]=="vecinfer"][0]["perplexity"]:.4f}')
PY
