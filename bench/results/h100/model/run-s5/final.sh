#!/usr/bin/env bash
# Session 5, the final H100 command (model parts 1-4 carried before it, `part.sh`): the paged
# GPU tests with an engine's own block tables, also under memcheck; GPU and CPU perplexity of
# every method on the same 4 windows of 2048 (4 fp16 sinks); the GPU eval over all of eval.txt
# at ctx 8192 with CUDA graphs; the example engine with the re-tuned H100 winner embedded.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH PYTHONUNBUFFERED=1 PATH=/usr/local/cuda/bin:$PATH
C=$PWD/.carry/m5/p5; V=/root/vi; export VECINFER_CACHE_DIR=$V/cache
M=$V/cache/models/SmolLM2-135M-Instruct.Q4_1.gguf; mkdir -p $V/cache/models
cat $V/part-aa $V/part-ab $V/part-ac $V/part-ad $C/part-ae | xz -d > $M; sha256sum $M | tee $OUT/model-sha.txt
for b in vecinfer gpu_paged engine; do xz -dc $C/$b.xz > $V/$b; chmod +x $V/$b; done
B=$V/vecinfer; CB=$PWD/bench/results/accuracy/cb-d4b8-d4b8-layer.safetensors; E=$C/eval.txt
export VECINFER_REQUIRE_GPU=1
timeout 100 $V/gpu_paged --ignored --test-threads 1 --nocapture > $OUT/gpu-paged.log 2>&1; echo "gpu_paged rc $?"
timeout 150 compute-sanitizer --tool memcheck $V/gpu_paged --ignored --test-threads 1 engine_can_bring > $OUT/memcheck-own-tables.log 2>&1; echo "memcheck rc $?"
(cd examples/engine && timeout 60 $V/engine > $OUT/engine.log 2>&1; echo "engine rc $?")
M5="fp16,vq,vq+smooth,vq+hadamard,vecinfer"
timeout 60 $B eval --model $M --device cuda --text $E --codebooks $CB --ctx 2048 --max-windows 4 --sinks 4 --methods $M5 --json $OUT/eval-gpu-4x2048-s4.json > $OUT/eval-gpu.txt 2>&1; echo "gpu eval rc $?"
timeout 300 $B eval --model $M --text $E --codebooks $CB --ctx 2048 --max-windows 4 --sinks 4 --methods $M5 --no-attention-error --json $OUT/eval-cpu-4x2048-s4.json > $OUT/eval-cpu.txt 2>&1; echo "cpu eval rc $?"
timeout 150 $B eval --model $M --device cuda --text $E --codebooks $CB --ctx 8192 --methods fp16,vq,vq+hadamard,vecinfer --json $OUT/eval-8192.json > $OUT/eval-8192.txt 2>&1; echo "eval 8192 rc $?"
grep -h "test result\|worst rel err" $OUT/gpu-paged.log | tail -4; grep -h "ERROR SUMMARY" $OUT/memcheck-own-tables.log; cat $OUT/engine.log | tail -5
python3 - $OUT/eval-gpu-4x2048-s4.json $OUT/eval-cpu-4x2048-s4.json <<'PY'
import json, sys
g, c = (json.load(open(p))["results"] for p in sys.argv[1:3])
cpu = {r["method"]: r["perplexity"] for r in c}
for r in g:
    m = r["method"]; print(f"{m:<12} GPU {r['perplexity']:.4f} CPU {cpu[m]:.4f} {100*(r['perplexity']/cpu[m]-1):+.3f}%")
PY
tail -n 8 $OUT/eval-8192.txt
