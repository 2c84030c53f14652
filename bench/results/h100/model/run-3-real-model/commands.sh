#!/bin/bash
# Call C of 3 (model part 3 of 3): the real model. GPU checks against the CPU (logits,
# generation, perplexity), GPU eval per method, generation, the ignored GPU tests.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
C=$PWD/.carry/model/c; V=/root/vi
export VECINFER_CACHE_DIR=$V/cache PYTHONUNBUFFERED=1
L=$OUT/c.log
t0=$(date +%s); stamp() { echo "== $(( $(date +%s) - t0 ))s: $*" >> $L; }
M=$V/cache/models/SmolLM2-135M-Instruct.Q4_1.gguf; mkdir -p $V/cache/models
cat $V/part-aa $V/part-ab $C/part-ac > $V/model.xz && python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],'wb'))" $V/model.xz $M
sha256sum $M >> $L; echo "want b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53" >> $L
mkdir -p /work/shared/data/wikitext2 /work/wt-model/bench/results/accuracy
cp $C/eval.txt /work/shared/data/wikitext2/eval.txt
CB=$PWD/bench/results/accuracy/cb-d4b8-d4b8-layer.safetensors; cp $CB /work/wt-model/bench/results/accuracy/
E=/work/shared/data/wikitext2/eval.txt; B=$V/vecinfer; G=$OUT/eval-generate.txt
stamp gpu-check real
timeout 170 $B gpu-check --skip-tiny --model $M --codebooks $CB --text $E --ctx 2048 --windows 2 --json $OUT/check-real.json > $OUT/check-real.txt 2>&1; stamp "gpu-check rc $?"
stamp generate
chat="<|im_start|>user
Write two sentences about the sea.<|im_end|>
<|im_start|>assistant
"
for cache in fp16 vq; do
  echo "### generate --cache $cache" >> $G
  timeout 40 $B generate --device cuda --cache $cache --codebooks $CB --tokens 48 --prompt "The history of Paris begins" >> $G 2>&1 || \
    timeout 40 $B generate --device cuda --cache $cache --codebooks $CB --tokens 48 --no-graph --prompt "The history of Paris begins" >> $G 2>&1
  timeout 40 $B generate --device cuda --cache $cache --codebooks $CB --residual 16 --tokens 48 --prompt "$chat" >> $G 2>&1
done
ev() { echo "### eval $*" >> $G; timeout 90 $B eval --device cuda --text $E "$@" >> $G 2>&1 || { echo "### retry --no-graph" >> $G; timeout 90 $B eval --device cuda --text $E --no-graph "$@" >> $G 2>&1; }; stamp "eval rc $?"; }
ev --codebooks $CB --ctx 2048 --max-windows 4 --methods fp16,vq,vq+smooth,vq+hadamard,vecinfer --json $OUT/eval-2048x4.json
ev --ctx 2048 --methods fp16 --json $OUT/eval-2048-all-fp16.json
ev --codebooks $CB --ctx 8192 --methods fp16,vq,vq+hadamard,vecinfer --json $OUT/eval-8192-all.json
stamp "decode-bench real weights"
timeout 60 $B decode-bench --model $M --codebooks $CB --caches fp16,d4b8/d4b8 --batches 64 --contexts 8192 --largest-at "" --json $OUT/decode-bench-real.json >> $G 2>&1; stamp "rc $?"
stamp "ignored GPU tests"
timeout 150 $V/gpu_model --ignored --test-threads 1 >> $L 2>&1; stamp "gpu tests rc $?"
