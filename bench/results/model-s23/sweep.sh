#!/usr/bin/env bash
# Session 23, H200 call 3 of 3 (calls 1-2 only copy model parts into /root/s23): K/V splits
# for the int8 window at 2.0 and 3 bits, all of eval.txt at ctx 2048, 4 sinks, GPU engine
# (the int8 rows now written by the projection). Codebooks: calibrate --ctx 2048
# --max-tokens 16384 --methods vecinfer --smooth balanced (seed 0), out/win/cb2048-K-V.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc
R=/root/s23; mkdir -p $R; cp .carry/m3/* $R/
cat $R/gg-part-00 $R/gg-part-01 $R/gg-part-02 > $R/model.gguf; M=$R/model.gguf; sha256sum $M | cut -c1-16
xz -dc $R/vi.xz > $R/vi; chmod +x $R/vi
ev() { local name=$1; shift; timeout 100 $R/vi eval --model $M --device cuda --text $R/eval.txt --ctx 2048 --sinks 4 --methods vecinfer --window int8 --json $OUT/$name.json "$@" > $OUT/$name.txt 2>&1; echo "$name rc $?: $(grep -E "^vecinfer " $OUT/$name.txt | tail -1 | cut -c1-150)"; }
cb() { echo $R/cb2048-$1.safetensors; }
# 2.0 bits: the largest int8 window that keeps 2.0 bits at ctx 2048 (4 int8 sinks counted).
for r in 74 128; do ev d4b9-d8b10-r$r --codebooks $(cb d4b9-d8b10) --residual $r; done
for r in 74 111 160; do ev d4b8-d8b10-r$r --codebooks $(cb d4b8-d8b10) --residual $r; done
for r in 93 128; do ev d4b9-d8b9-r$r --codebooks $(cb d4b9-d8b9) --residual $r; done
[ -f $(cb d4b8-d8b11) ] && for r in 93 128; do ev d4b8-d8b11-r$r --codebooks $(cb d4b8-d8b11) --residual $r; done
# 3 bits.
for r in 160 174 256; do ev d4b12-d4b8-r$r --codebooks $(cb d4b12-d4b8) --residual $r; done
for r in 89 128 174; do ev d4b12-d4b10-r$r --codebooks $(cb d4b12-d4b10) --residual $r; done
cd $OUT && tar czf sweep.tgz *.json *.txt && rm -f *.json *.txt
