#!/usr/bin/env bash
# Session 25, H200, call 3 of 3 (carry .carry/m3 and .carry/s25): plan files made by one
# `calibrate --layer-codecs` command, evaluated by the GPU kernels over all of eval.txt; the
# demo's cheaper ranking (1-2 windows) compared on the device's CPU; a generation from a plan.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc
R=/root/s25; mkdir -p $R; cp .carry/m3/gg-part-02 .carry/s25/* $R/
cat $R/gg-part-00 $R/gg-part-01 $R/gg-part-02 > $R/model.gguf; M=$R/model.gguf; sha256sum $M | cut -c1-16
xz -dc $R/vi.xz > $R/vi; chmod +x $R/vi; nproc
# The demo's ranking at three sizes, on the CPU in parallel while the GPU evaluates.
probe() { local name=$1; shift; RAYON_NUM_THREADS=5 timeout 420 $R/vi calibrate --model $M \
  --text $R/calib.txt --k d4b8 --v d8b8 --methods vecinfer --ctx 2048 --max-tokens 8192 \
  --layer-codecs top:4=d4b12/d4b10 --layer-codecs top:2=d4b12/d4b8 "$@" \
  --out $R/demo-$name.safetensors > $OUT/demo-$name.txt 2>&1; echo "demo-$name rc $?" >> $OUT/demo-$name.txt; }
probe w1c1024 --probe-windows 1 --probe-ctx 1024 &
probe w1c2048 --probe-windows 1 --probe-ctx 2048 &
probe w2c1024 --probe-windows 2 --probe-ctx 1024 &
ev() { local name=$1 ctx=$2; shift 2; timeout 200 $R/vi eval --model $M --device cuda --text $R/eval.txt --ctx $ctx --sinks 4 --window int8 --no-attention-error --json $OUT/$name.json "$@" > $OUT/$name.txt 2>&1; echo "$name rc $?: $(grep -E "^(vecinfer|fp16) " $OUT/$name.txt | tr '\n' ' ' | cut -c1-240)"; }
ev plan2048-r74 2048 --methods fp16,vecinfer --residual 74 --codebooks $R/plan2048.safetensors
[ -f $R/planmix.safetensors ] && {
  ev planmix-r74 2048 --methods vecinfer --residual 74 --codebooks $R/planmix.safetensors
  ev planmix-8192-r311 8192 --methods fp16,vecinfer --residual 311 --codebooks $R/planmix.safetensors
}
timeout 120 $R/vi generate --model $M --device cuda --cache vq --codebooks $R/plan2048.safetensors \
  --tokens 48 --prompt "The history of Paris begins" > $OUT/generate.txt 2>&1; echo "generate rc $?"; tail -3 $OUT/generate.txt
wait
for f in $OUT/demo-*.txt; do grep -E "^layers by|^wrote|rc " $f | cut -c1-400; done
for n in w1c1024 w1c2048 w2c1024; do
  [ -f $R/demo-$n.safetensors ] && ev demo-$n 2048 --methods vecinfer --residual 128 --codebooks $R/demo-$n.safetensors
done
cd $OUT && tar czf run.tgz *.json *.txt && rm -f *.json *.txt
