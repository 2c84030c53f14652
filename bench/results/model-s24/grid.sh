#!/usr/bin/env bash
# Session 24, H200, call 3 of a 3-call upload (calls 1-2 copy model parts into /root/s24):
# layer-wise bit allocations (eval --layer-codebooks) on all of eval.txt with the GPU eval,
# 4 int8 sinks + the int8 window. The layers are ranked by the CPU probe (eval --only-layers L,
# 4 windows: cpu-only-layer-sweep.log): 20 23 17 18 7 14 28 24 2 21 10 22 ... Codebooks
# calibrated at ctx 2048 (calibrate --ctx 2048 --max-tokens 16384 --methods vecinfer
# --smooth balanced, attention weights, seed 0), cbmix at 2048 + 8192.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc
R=/root/s24; mkdir -p $R; cp .carry/s24m3/* $R/; ls $R | head -40 | tr "\n" " "; echo
cat $R/gg-part-00 $R/gg-part-01 $R/gg-part-02 > $R/model.gguf; M=$R/model.gguf; sha256sum $M | cut -c1-16
xz -dc $R/vi.xz > $R/vi; chmod +x $R/vi
ev() { local name=$1 ctx=$2; shift 2; timeout 200 $R/vi eval --model $M --device cuda --text $R/eval.txt --ctx $ctx --sinks 4 --window int8 --no-attention-error --json $OUT/$name.json "$@" > $OUT/$name.txt 2>&1; echo "$name rc $?: $(grep -E "^(vecinfer|fp16) " $OUT/$name.txt | tail -1 | cut -c1-120)"; }
C=$R; T4=17-18,20,23; T6=7,14,17-18,20,23
cb() { echo $C/cb2048-$1.safetensors; }
ev fp16-2048 2048 --methods fp16
ev mix-r74 2048 --methods vecinfer --codebooks $C/cbmix-d4b9-d8b10.safetensors --residual 74
# 2.0 bits
ev g1 2048 --methods vecinfer --residual 74 --codebooks $(cb d4b8-d8b10) --layer-codebooks $T4=$(cb d4b12-d4b8)
ev g2 2048 --methods vecinfer --residual 74 --codebooks $(cb d4b8-d8b8) --layer-codebooks $T6=$(cb d4b12-d4b8)
ev g3 2048 --methods vecinfer --residual 74 --codebooks $(cb d4b8-d8b8) --layer-codebooks $T4=$(cb d4b12-d4b10) --layer-codebooks 7,14=$(cb d4b12-d4b8)
ev g4 2048 --methods vecinfer --residual 74 --codebooks $(cb d4b8-d8b8) --layer-codebooks $T6=$(cb d4b12-d4b8) --layer-codebooks 2,21,24,28=$(cb d4b8-d8b10)
ev g5 2048 --methods vecinfer --residual 74 --codebooks $(cb d4b8-d8b8) --layer-codebooks $T4=$(cb d4b12-d4b8) --layer-codebooks 7,14,24,28=$(cb d4b10-d8b10)
ev g7 2048 --methods vecinfer --residual 74 --codebooks $(cb d4b8-d8b8) --layer-codebooks $T6=$(cb d4b12-d8b10) --layer-codebooks 2,10,21-22,24,28=$(cb d4b10-d8b10)
ev g8-r64 2048 --methods vecinfer --residual 64 --codebooks $(cb d4b8-d8b8) --layer-codebooks $T6,24,28=$(cb d4b12-d4b8)
ev g9-r64 2048 --methods vecinfer --residual 64 --codebooks $(cb d4b8-d8b8) --layer-codebooks $T4=$(cb d2b8-d4b8) --layer-codebooks 7,14=$(cb d4b12-d4b8)
# 3 bits
ev u3-r170 2048 --methods vecinfer --residual 170 --codebooks $(cb d4b12-d4b8)
ev h3a-r128 2048 --methods vecinfer --residual 128 --codebooks $(cb d4b12-d4b8) --layer-codebooks $T4=$(cb d2b8-d4b8)
ev h3b-r170 2048 --methods vecinfer --residual 170 --codebooks $(cb d4b12-d4b8) --layer-codebooks $T4=$(cb d2b8-d4b8) --layer-codebooks 0,9,19=$(cb d4b10-d8b10)
ev h3c-r170 2048 --methods vecinfer --residual 170 --codebooks $(cb d4b12-d8b10) --layer-codebooks $T6,2,21,24,28=$(cb d2b8-d4b8)
ev h3d-r170 2048 --methods vecinfer --residual 170 --codebooks $(cb d4b12-d8b8) --layer-codebooks $T6=$(cb d2b8-d4b8) --layer-codebooks 10,2,21-22,24,28=$(cb d4b12-d4b8)
# 1.5 bits
ev u15-r69 2048 --methods vecinfer --residual 69 --codebooks $(cb d8b12-d8b8)
ev l1a-r69 2048 --methods vecinfer --residual 69 --codebooks $(cb d8b10-d8b8) --layer-codebooks $T6,24,28=$(cb d4b8-d8b8)
ev l1b-r69 2048 --methods vecinfer --residual 69 --codebooks $(cb d8b10-d8b8) --layer-codebooks $T4=$(cb d4b12-d8b8)
ev l1c-r69 2048 --methods vecinfer --residual 69 --codebooks $(cb d8b11-d8b8) --layer-codebooks $T4=$(cb d4b8-d8b8)
ev l1e-r32 2048 --methods vecinfer --residual 32 --codebooks $(cb d8b10-d8b8) --layer-codebooks $T6=$(cb d4b12-d8b8)
# ctx 8192, 2.0 bits (the uniform 2048 + 8192 file: +6.06% in session 23)
ev fp16-8192 8192 --methods fp16
ev g2-8192-r311 8192 --methods vecinfer --residual 311 --codebooks $(cb d4b8-d8b8) --layer-codebooks $T6=$(cb d4b12-d4b8)
ev g1-8192-r311 8192 --methods vecinfer --residual 311 --codebooks $(cb d4b8-d8b10) --layer-codebooks $T4=$(cb d4b12-d4b8)
cd $OUT && tar czf grid.tgz *.json *.txt && rm -f *.json *.txt
