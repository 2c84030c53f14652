#!/usr/bin/env bash
# Session 5, model call 5 of 5 (H100), after the engine's VQ cache moved to the paged cache:
# reassemble the GGUF (SHA-256 checked); the GPU engine against the CPU pass (logits,
# perplexity on 4 windows of 2048 with 4 fp16 sinks, the demo's setting); generation from the
# paged VQ cache; GPU eval over all of eval.txt at ctx 8192; the decode benchmark with HF
# transformers beside it; the ignored model GPU tests; then the 2-bit paged keys of the H100
# tuned-configs file tuned again (the default spilled, which stopped the guided search).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH PYTHONUNBUFFERED=1
C=$PWD/.carry/m5/p5; V=/root/vi; export VECINFER_CACHE_DIR=$V/cache
M=$V/cache/models/SmolLM2-135M-Instruct.Q4_1.gguf; mkdir -p $V/cache/models
cat $V/part-aa $V/part-ab $V/part-ac $V/part-ad $C/part-ae | xz -d > $M; sha256sum $M | tee $OUT/model-sha.txt
xz -dc $C/vecinfer.xz > $V/vecinfer; xz -dc $C/gpu_model.xz > $V/gpu_model; chmod +x $V/vecinfer $V/gpu_model
B=$V/vecinfer; CB=$PWD/bench/results/accuracy/cb-d4b8-d4b8-layer.safetensors; E=$C/eval.txt
timeout 200 $B gpu-check --skip-tiny --model $M --codebooks $CB --text $E --ctx 2048 --windows 4 --sinks 4 --json $OUT/check-sinks4.json > $OUT/check-sinks4.txt 2>&1; echo "gpu-check sinks 4 rc $?"
for cache in fp16 vq; do timeout 40 $B generate --model $M --device cuda --cache $cache --codebooks $CB --tokens 48 --prompt "The history of Paris begins" >> $OUT/generate.txt 2>&1; echo "generate $cache rc $?"; done
timeout 100 $B eval --model $M --device cuda --text $E --codebooks $CB --ctx 8192 --methods fp16,vecinfer --json $OUT/eval-8192.json > $OUT/eval-8192.txt 2>&1; echo "eval 8192 rc $?"
timeout 100 python3 $C/hf_decode_baseline.py --shapes 64x8192 --steps 24 --json $OUT/hf.json > $OUT/hf.log 2>&1; echo "hf rc $?"
timeout 120 $B decode-bench --model $M --codebooks $CB --caches fp16,d4b8/d4b8 --batches 1,64 --contexts 8192,131072 --largest-at 8192 --baseline $OUT/hf.json --json $OUT/decode-bench.json --plot $OUT/decode-bench.svg > $OUT/decode-bench.txt 2>&1; echo "decode-bench rc $?"
mkdir -p /work/shared/data/wikitext2 /work/main/bench/results/accuracy; cp $E /work/shared/data/wikitext2/; cp $CB /work/main/bench/results/accuracy/ 2>/dev/null
VECINFER_REQUIRE_GPU=1 timeout 120 $V/gpu_model --ignored --test-threads 1 > $OUT/gpu-model-tests.log 2>&1; echo "gpu_model rc $?"
cp tuned-configs/nvidia-h100-80gb-hbm3.json $V/h100.json
timeout 150 $B tune --strategy guided --retune --layouts paged --codecs d4b8/d4b8 --pages 16,64,256 --file $V/h100.json --table $OUT/table-paged-2bit.md > $OUT/tune-paged-2bit.log 2>&1; echo "tune rc $?"
gzip -c $V/h100.json > $OUT/nvidia-h100-80gb-hbm3.json.gz
grep -h "test result" $OUT/gpu-model-tests.log; tail -n 22 $OUT/check-sinks4.txt; tail -n 6 $OUT/eval-8192.txt; grep -v "^|" $OUT/tune-paged-2bit.log | tail -7; tail -n 24 $OUT/decode-bench.txt; tail -n 10 $OUT/generate.txt
