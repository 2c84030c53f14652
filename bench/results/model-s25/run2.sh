#!/usr/bin/env bash
# Session 25, H200, call 3 of a second 3-call upload (carry .carry/m3 and .carry/s25): the plan
# that one `calibrate --layer-codecs` command made from calib.txt at 2048 + 8192
# (planmix.safetensors, calmix.log), over all of eval.txt at ctx 2048 and 8192.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc
R=/root/s25; mkdir -p $R; cp .carry/m3/gg-part-02 .carry/s25/* $R/
cat $R/gg-part-00 $R/gg-part-01 $R/gg-part-02 > $R/model.gguf; M=$R/model.gguf; sha256sum $M | cut -c1-16
xz -dc $R/vi.xz > $R/vi; chmod +x $R/vi
ev() { local name=$1 ctx=$2; shift 2; timeout 250 $R/vi eval --model $M --device cuda --text $R/eval.txt --ctx $ctx --sinks 4 --window int8 --no-attention-error --json $OUT/$name.json "$@" > $OUT/$name.txt 2>&1; echo "$name rc $?: $(grep -E "^(vecinfer|fp16) " $OUT/$name.txt | tr '\n' ' ' | cut -c1-240)"; }
ev planmix-r74 2048 --methods vecinfer --residual 74 --codebooks $R/planmix.safetensors
ev planmix-8192-r311 8192 --methods fp16,vecinfer --residual 311 --codebooks $R/planmix.safetensors
cd $OUT && tar czf run2.tgz *.json *.txt && rm -f *.json *.txt
