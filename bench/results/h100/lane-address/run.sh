#!/usr/bin/env bash
# A/B of the centroid address change (32-bit shared addresses, per-lane codebook base) on the
# H100: the tensor-core kernel tests on the new source, then `vecinfer bench` of the previous
# binary (vecinfer-old) and the new one, interleaved twice, same shapes and codecs.
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
cd .carry/gpu
VECINFER_REQUIRE_GPU=1 VECINFER_REAL_KV=smollm2-kv.safetensors VECINFER_REAL_CODEBOOKS=cb-d4b8-d4b8-layer.safetensors timeout 200 ./gpu_attention --test-threads 1 > $OUT/gpu-attention-tests.log 2>&1; echo "gpu_attention rc $?"; grep "test result" $OUT/gpu-attention-tests.log
A="bench --shapes 1x32768,1x131072,8x32768,32x8192,64x8192,128x4096 --codecs d4b8/d4b8,d2b8/d2b8,d8b12/d8b12,d8b12/d8b8 --runs 20"
for round in 1 2; do
  ./vecinfer-old $A > $OUT/old-$round.log 2>&1; echo "old rc $?"
  ./vecinfer $A > $OUT/new-$round.log 2>&1; echo "new rc $?"
done
paste <(grep -E "^ +[0-9]+ +[0-9]+ " $OUT/old-2.log | awk '{print $1"x"$2, $3, $6}') <(grep -E "^ +[0-9]+ +[0-9]+ " $OUT/new-2.log | awk '{print $6}') | awk '{printf "%-12s %-12s old %s new %s  %.3fx\n", $1, $2, $3, $4, $3/$4}'
cd $OUT && tar czf logs.tgz *.log && rm -f *.log
