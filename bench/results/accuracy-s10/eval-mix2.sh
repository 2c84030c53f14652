#!/usr/bin/env bash
# Session 10, second recording (real-model call 3 of 3, after real-part.sh a and b): the two mixes at 1.75 code bits — K d4b9 / V d8b10 and K d4b10 / V d8b8, i.e. 2.0
# bits at ctx 2048 with a 32-token fp16 window — calibrated like eval-mix.sh's, evaluated on all
# of eval.txt (GPU), then their speed beside d4b8/d4b8 (kernel alone, whole-model decode).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH
V=/root/vi; cp .carry/m6/c/mpart-* .carry/s10b/cb-* $V/; export VECINFER_CACHE_DIR=$V/cache
M=$V/cache/models/SmolLM2-135M-Instruct.Q4_1.gguf; mkdir -p $V/cache/models
[ -s $M ] || cat $V/mpart-aa $V/mpart-ab $V/mpart-ac | xz -d > $M; sha256sum $M | cut -c1-16
xz -dc .carry/s10/vi.xz > $V/vi && chmod +x $V/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
ev() { local name=$1; shift; timeout 150 $V/vi eval --model $M --device cuda --text $V/eval.txt --sinks 4 --methods vecinfer --json $OUT/eval-$name.json "$@" > $OUT/eval-$name.txt 2>&1; echo "eval $name rc $?"; grep -E "^vecinfer  " $OUT/eval-$name.txt | tail -1 | cut -c1-120; }
for kv in d4b9-d8b10 d4b10-d8b8; do
  for r in 16 32 64 128; do ev c2048-$kv-r$r --ctx 2048 --residual $r --codebooks $V/cb-$kv-layer-mix-balanced.safetensors; done
  for r in 64 128; do ev c8192-$kv-r$r --ctx 8192 --residual $r --codebooks $V/cb-$kv-layer-mix-balanced.safetensors; done
done
for shape in "9 3 64 1x32768,1x131072,8x32768,64x8192,256x2048" "32 8 128 1x32768,8x32768,64x8192"; do
  set -- $shape
  timeout 150 $V/vi bench --heads $1 --kv-heads $2 --head-dim $3 --shapes $4 --codecs d4b8/d4b8,d4b9/d8b10,d4b10/d8b8 --runs 30 \
    --json $OUT/bench-h$1.json > $OUT/bench-h$1.txt 2>&1; echo "bench h$1 rc $?"
  grep -E "^ +[0-9]+ +[0-9]+ +d4b" $OUT/bench-h$1.txt | cut -c1-130
done
timeout 200 $V/vi decode-bench --random-weights --caches fp16,d4b8/d4b8,d4b9/d8b10,d4b10/d8b8 --batches 1,64 --contexts 8192,131072 --largest-at= \
  --json $OUT/decode.json > $OUT/decode.txt 2>&1; echo "decode rc $?"
grep -hE "lower|^(fp16|vecinfer) .* x " $OUT/decode.txt | cut -c1-150
cd $OUT && tar czf eval2.tgz *.json *.txt && rm -f *.json *.txt
