#!/usr/bin/env bash
# Session 6, H100: the GPU tests after this session's kernel changes (attention: centroid
# addresses by byte permute, masks only on a split's last share, warp outputs over the
# codebooks, splits that fill the waves, parallel split merge; append: a block per side,
# centroids in registers), memcheck and racecheck on the changed kernels, then the bench
# against main (SDPA in the same run).
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH VECINFER_REQUIRE_GPU=1
C=$PWD/.carry/k7
mkdir -p /tmp/b && for b in vecinfer gpu_attention gpu_paged gpu_append vecinfer-base; do xz -d -c $C/$b.xz > /tmp/b/$b && chmod +x /tmp/b/$b; done
cd $C
(VECINFER_REAL_KV=smollm2-kv.safetensors VECINFER_REAL_CODEBOOKS=cb-d4b8-d4b8-layer.safetensors timeout 280 /tmp/b/gpu_attention --ignored --test-threads 1 > $OUT/gpu-attention.log 2>&1; echo "gpu_attention rc $?") &
(timeout 120 /tmp/b/gpu_paged --ignored --test-threads 1 > $OUT/gpu-paged.log 2>&1; echo "gpu_paged rc $?"
 timeout 100 /tmp/b/gpu_append --ignored --test-threads 1 > $OUT/gpu-append.log 2>&1; echo "gpu_append rc $?"
 timeout 150 compute-sanitizer --tool memcheck /tmp/b/gpu_append --ignored --test-threads 1 > $OUT/memcheck-append.log 2>&1; echo "memcheck append rc $?"
 timeout 150 compute-sanitizer --tool racecheck /tmp/b/gpu_append --ignored --test-threads 1 > $OUT/racecheck-append.log 2>&1; echo "racecheck append rc $?") &
wait
(timeout 200 compute-sanitizer --tool memcheck /tmp/b/gpu_paged --ignored --test-threads 1 > $OUT/memcheck-paged.log 2>&1; echo "memcheck paged rc $?") &
(timeout 200 compute-sanitizer --tool racecheck /tmp/b/gpu_paged --ignored --test-threads 1 an_engine > $OUT/racecheck-paged.log 2>&1; echo "racecheck paged rc $?") &
python3 fp16_decode_baseline.py --shapes 1x32768,1x131072,8x32768,32x8192,64x8192,128x4096 --json $OUT/sdpa-llama.json > /dev/null 2>&1
python3 fp16_decode_baseline.py --heads 9 --kv-heads 3 --head-dim 64 --shapes 1x32768,1x131072,8x32768,64x8192,256x2048 --json $OUT/sdpa-smollm2.json > /dev/null 2>&1
wait
grep -h "test result" $OUT/gpu-*.log; grep -hE "ERROR SUMMARY|RACECHECK SUMMARY" $OUT/*check-*.log
for v in base new; do
  bin=/tmp/b/vecinfer; [ $v = base ] && bin=/tmp/b/vecinfer-base
  $bin bench --shapes 1x32768,1x131072,8x32768,32x8192,64x8192,128x4096 --codecs d4b8/d4b8,d2b8/d2b8,d8b12/d8b8 --baseline $OUT/sdpa-llama.json --json $OUT/bench-llama-$v.json > $OUT/bench-llama-$v.txt 2> $OUT/bench-llama-$v.log
  $bin bench --heads 9 --kv-heads 3 --head-dim 64 --shapes 1x32768,1x131072,8x32768,64x8192,256x2048 --codecs d4b8/d4b8,d8b12/d8b8 --baseline $OUT/sdpa-smollm2.json --json $OUT/bench-smollm2-$v.json > $OUT/bench-smollm2-$v.txt 2> $OUT/bench-smollm2-$v.log
  echo "== $v"; grep -h "FAIL" $OUT/bench-*-$v.log; cut -c1-128 $OUT/bench-llama-$v.txt $OUT/bench-smollm2-$v.txt | grep -v "^copy"
done
cd $OUT && tar czf all.tgz *.txt *.log *.json && rm -f *.txt *.log *.json
