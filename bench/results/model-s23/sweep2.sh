#!/usr/bin/env bash
# Session 23, H200, call 3 of a second 3-call upload (calls 1-2 copy model parts into
# /root/s23): racecheck of the int8 projection writes (short), then the int8 window at
# ctx 2048, 4096 and 8192 with codebooks calibrated on both lengths (calibrate --ctx 2048,8192
# --max-tokens 24576, session 10's recipe), the 2.0-bit K d4b10 / V d8b9 split and 1.5 bits.
# First the final binaries' tiny-model GPU checks.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc
R=/root/s23; mkdir -p $R; cp .carry/m3/* $R/
cat $R/gg-part-00 $R/gg-part-01 $R/gg-part-02 > $R/model.gguf; M=$R/model.gguf; sha256sum $M | cut -c1-16
xz -dc $R/vi.xz > $R/vi; chmod +x $R/vi; xz -dc $R/gpu_model.xz > $R/gpu_model; chmod +x $R/gpu_model
# The final binaries' tiny-model checks (int8 token writes at head dim 64 and 128).
VECINFER_REQUIRE_GPU=1 $R/gpu_model --ignored --test-threads 1 --nocapture tiny_random_model > $OUT/gpu_model.txt 2>&1
echo "gpu_model: $(grep -E "^test result" $OUT/gpu_model.txt)"; grep -E "token writes|head dim 128" $OUT/gpu_model.txt | cut -c1-160 | head -12
for p in "skinny 1" "cublas 16"; do set -- $p
  timeout 150 compute-sanitizer --tool racecheck --print-limit 5 $R/vi decode-bench --random-weights --caches d4b8/d4b8 --window int8 \
    --sinks 4 --residual 16 --batches $2 --contexts 64 --largest-at "" --warmup 0 --steps 1 --projections $1 --tune-fp16 off > $OUT/racecheck-$1.txt 2>&1
  echo "racecheck $1 rc $?: $(grep -E "RACECHECK SUMMARY" $OUT/racecheck-$1.txt)"
done
ev() { local name=$1; shift; timeout 150 $R/vi eval --model $M --device cuda --text $R/eval.txt --sinks 4 --no-attention-error --json $OUT/$name.json "$@" > $OUT/$name.txt 2>&1; echo "$name rc $?: $(grep -E "^(vecinfer|fp16) " $OUT/$name.txt | tail -1 | cut -c1-150)"; }
MIX=$R/cbmix-d4b9-d8b10.safetensors
ev c2048-mix-int8-r74 --ctx 2048 --methods vecinfer --codebooks $MIX --window int8 --residual 74
for c in 4096 8192; do ev c$c-fp16 --ctx $c --methods fp16; done
ev c4096-mix-int8-r153 --ctx 4096 --methods vecinfer --codebooks $MIX --window int8 --residual 153
ev c4096-mix-fp16-r67 --ctx 4096 --methods vecinfer --codebooks $MIX --window fp16 --residual 67
ev c8192-mix-int8-r311 --ctx 8192 --methods vecinfer --codebooks $MIX --window int8 --residual 311
ev c8192-mix-int8-r128 --ctx 8192 --methods vecinfer --codebooks $MIX --window int8 --residual 128
ev c8192-mix-fp16-r139 --ctx 8192 --methods vecinfer --codebooks $MIX --window fp16 --residual 139
[ -f $R/cb2048-d4b10-d8b9.safetensors ] && for r in 55 74; do ev c2048-d4b10-d8b9-int8-r$r --ctx 2048 --methods vecinfer --codebooks $R/cb2048-d4b10-d8b9.safetensors --window int8 --residual $r; done
[ -f $R/cb2048-d8b12-d8b8.safetensors ] && for r in 69 128; do ev c2048-d8b12-d8b8-int8-r$r --ctx 2048 --methods vecinfer --codebooks $R/cb2048-d8b12-d8b8.safetensors --window int8 --residual $r; done
cd $OUT && tar czf sweep2.tgz *.json *.txt && rm -f *.json *.txt
