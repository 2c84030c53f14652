#!/usr/bin/env bash
# Session 16, H100: session 15's last host changes (the tuner's default exemption, the relaxed
# gpu_tuner check, the macros test) on a GPU: the GPU tests with the shipped files in place,
# gpu-check, the default kernel in `bench`. Then where a batch-1 step's time goes: every kernel
# of one eager step at 1 x 131072 (nsys when the machine has it, else ncu durations).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s16; R=/tmp/r; mkdir -p $R
for b in vi gpu_attention gpu_paged gpu_append gpu_tuner; do xz -dc $S/$b.xz > $R/$b && chmod +x $R/$b; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for t in gpu_attention gpu_paged gpu_append gpu_tuner; do
  VECINFER_REQUIRE_GPU=1 timeout 200 $R/$t --include-ignored --test-threads 1 > $OUT/$t.log 2>&1; echo "$t rc $?: $(grep -E '^test result' $OUT/$t.log)"
done
timeout 120 $R/vi gpu-check > $OUT/check.txt 2>&1; echo "gpu-check rc $?: $(grep -cE '^PASS' $OUT/check.txt) PASS"; grep -E "^FAIL" $OUT/check.txt | cut -c1-200
timeout 100 $R/vi bench --codecs d4b8/d4b8 --shapes 1x32768,64x8192 --min-blocks 0,3 --json $OUT/bench-default.json > $OUT/bench-default.txt 2>&1; echo "bench rc $?"
grep -E "mma|error|refused" $OUT/bench-default.txt | cut -c1-180 | head -8
which nsys ncu
for c in fp16 d4b8/d4b8; do
  n=$(echo $c | tr / _)
  if which nsys > /dev/null; then
    timeout 150 nsys profile --cuda-graph-trace=node -o /tmp/p-$n -f true $R/vi decode-bench --random-weights --caches $c --batches 1 --contexts 131072 --largest-at "" --steps 5 --warmup 2 --tune-fp16 off > $OUT/nsys-$n.txt 2>&1
    nsys stats --report cuda_gpu_trace --format csv -o /tmp/t-$n /tmp/p-$n.nsys-rep > /dev/null 2>&1; ls /tmp/t-$n*
    gzip -c /tmp/t-${n}_cuda_gpu_trace.csv > $OUT/trace-$n.csv.gz
  else
    timeout 200 ncu --metrics gpu__time_duration.sum --csv $R/vi decode-bench --random-weights --caches $c --batches 1 --contexts 131072 --largest-at "" --steps 1 --warmup 0 --tune-fp16 off > /tmp/ncu-$n.csv 2>&1
    gzip -c /tmp/ncu-$n.csv > $OUT/ncu-$n.csv.gz
  fi
  grep -E "^(fp16|vecinfer).* x " $OUT/nsys-$n.txt | head -3
done
tar czf $OUT/logs.tgz -C $OUT gpu_attention.log gpu_paged.log gpu_append.log gpu_tuner.log check.txt && rm $OUT/gpu_*.log $OUT/check.txt
