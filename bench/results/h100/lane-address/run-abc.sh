#!/usr/bin/env bash
# Three-way A/B on the H100: previous source (vecinfer-old), 32-bit shared addresses through
# inline PTX (vecinfer-asm), per-lane codebook pointer in plain C++ (vecinfer-cpp); the C++
# variant's tensor-core kernel tests first. Interleaved twice; the table is round 2.
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
cd .carry/gpu
VECINFER_REQUIRE_GPU=1 timeout 120 ./gpu_attention_cpp every_mma_axis --test-threads 1 > $OUT/gpu-attention-cpp.log 2>&1; echo "gpu_attention_cpp rc $?"; grep "test result" $OUT/gpu-attention-cpp.log
A="bench --shapes 1x131072,8x32768,64x8192 --codecs d4b8/d4b8,d2b8/d2b8,d8b12/d8b12,d8b12/d8b8 --runs 20"
for round in 1 2; do for v in old asm cpp; do ./vecinfer-$v $A > $OUT/$v-$round.log 2>&1; echo "$v rc $?"; done; done
row() { grep -E "^ +[0-9]+ +[0-9]+ " $OUT/$1-2.log | awk '{print $6}'; }
paste <(grep -E "^ +[0-9]+ +[0-9]+ " $OUT/old-2.log | awk '{print $1"x"$2, $3}') <(row old) <(row asm) <(row cpp) | awk '{printf "%-10s %-12s old %s asm %s (%.3fx) cpp %s (%.3fx)\n", $1, $2, $3, $4, $3/$4, $5, $3/$5}'
cd $OUT && tar czf logs-abc.tgz *.log && rm -f *.log
