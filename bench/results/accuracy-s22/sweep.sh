#!/usr/bin/env bash
# Session 22, H200, call 4: the int8 window's length at 2.0 and 3 bits (all of eval.txt, ctx
# 2048, 4 sinks, the GPU engine), then whole decode steps of the 2-bit cache with an fp16
# window (the projection writes the new K/V) against an int8 one (the append kernel writes
# them), and the fp16 window made to append too. Needs call 3's model and files in /root/s22.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
R=/root/s22; M=$R/SmolLM2-135M-Instruct.Q4_1.gguf; sha256sum $M | cut -c1-16
MIX=$R/cb2048-d4b9-d8b10.safetensors; K12=$R/cb2048-d4b12-d4b8.safetensors
ev() { local name=$1; shift; timeout 100 $R/vi eval --model $M --device cuda --text $R/eval.txt --ctx 2048 --sinks 4 --json $OUT/$name.json "$@" > $OUT/$name.txt 2>&1; echo "$name rc $?: $(grep -E "^(vecinfer|fp16) " $OUT/$name.txt | tail -1 | cut -c1-150)"; }
for r in 48 74 96 128; do ev w60-mix-r$r-int8 --methods vecinfer --codebooks $MIX --residual $r --window int8; done
for r in 16 48; do ev w60-mix-r$r-fp16 --methods vecinfer --codebooks $MIX --residual $r; done
for r in 96 160 192 256; do ev w60-k12-r$r-int8 --methods vecinfer --codebooks $K12 --residual $r --window int8; done
ev w60-k12-r128-fp16 --methods vecinfer --codebooks $K12 --residual 128
db() { local name=$1; shift; timeout 150 $R/vi decode-bench --model $M --caches d4b8/d4b8 --batches 1,16,64 --contexts 8192,32768 --largest-at "" --sinks 4 --residual 64 --json $OUT/$name.json "$@" > $OUT/$name.txt 2>&1; echo "$name rc $?"; grep -E "d4b8" $OUT/$name.txt | head -12 | cut -c1-160; }
db steps-fp16-window
db steps-int8-window --window int8
db steps-fp16-window-append --token-writes append
cd $OUT && tar czf sweep.tgz *.json *.txt && rm -f *.json *.txt
