#!/usr/bin/env bash
# Session 26, H200, call 3 of 3 (carry .carry/m3 and .carry/s26): the layer probe on the GPU.
# 1. gpu_model's tiny-model checks (the new only-layers checks among them);
# 2. one layer alone, GPU against CPU (eval --only-layers, 4 windows of calib.txt);
# 3. session 25's plan command with --probe-device cuda, timed; its ranking against the CPU's
#    (bench/results/model-s25/cal2048.log); the plan evaluated over all of eval.txt.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc
R=/root/s26; mkdir -p $R; cp .carry/m3/gg-part-02 .carry/s26/* $R/
cat $R/gg-part-00 $R/gg-part-01 $R/gg-part-02 > $R/model.gguf; M=$R/model.gguf; sha256sum $M | cut -c1-16
for b in vi gpu_model; do xz -dc $R/$b.xz > $R/$b; chmod +x $R/$b; done; nproc; nvidia-smi -L
VECINFER_REQUIRE_GPU=1 timeout 240 $R/gpu_model --ignored --test-threads 1 --nocapture tiny_random_model > $OUT/gpu_model.txt 2>&1
echo "gpu_model: $(grep -E "^test result" $OUT/gpu_model.txt)"; grep -E "only-layers|layers 1, 3|FAIL" $OUT/gpu_model.txt | cut -c1-400
one() { local dev=$1 layer=$2; timeout 200 $R/vi eval --model $M --device $dev --text $R/calib.txt --ctx 2048 \
  --max-windows 4 --sinks 4 --window int8 --residual 128 --no-attention-error --methods fp16,vecinfer \
  --codebooks $R/cb2048-d4b8-d8b8.safetensors --only-layers $layer > $OUT/one-$dev-$layer.txt 2>&1
  echo "one $dev layer $layer rc $?: $(grep -E "^(vecinfer|fp16) " $OUT/one-$dev-$layer.txt | tr '\n' ' ' | cut -c1-200)"; }
one cuda 18; one cpu 18; one cuda 7; one cpu 7
start=$(date +%s)
timeout 420 $R/vi calibrate --model $M --text $R/calib.txt --ctx 2048 --max-tokens 16384 --methods vecinfer \
  --k d4b8 --v d8b8 --layer-codecs top:4=d4b12/d4b10 --layer-codecs top:2=d4b12/d4b8 --probe-device cuda \
  --out $R/plan-gpu.safetensors > $OUT/calibrate-gpu.txt 2>&1
echo "calibrate rc $? in $(( $(date +%s) - start )) s"; grep -E "trained|^layers by|^wrote" $OUT/calibrate-gpu.txt | cut -c1-600
ev() { local name=$1 ctx=$2; shift 2; timeout 150 $R/vi eval --model $M --device cuda --text $R/eval.txt --ctx $ctx --sinks 4 --window int8 --no-attention-error --json $OUT/$name.json "$@" > $OUT/$name.txt 2>&1; echo "$name rc $?: $(grep -E "^(vecinfer|fp16) " $OUT/$name.txt | tr '\n' ' ' | cut -c1-240)"; }
[ -f $R/plan-gpu.safetensors ] && ev plan-gpu-r74 2048 --methods fp16,vecinfer --residual 74 --codebooks $R/plan-gpu.safetensors
cd $OUT && tar czf run.tgz *.txt $(ls *.json 2>/dev/null) && rm -f *.json *.txt
