#!/usr/bin/env bash
# Session 31, H200: the engine with the ragged split plan. GPU tests on the final build
# (gpu_attention with the ragged horizon plans, the ragged random caches, gpu-check, the tiny
# random model against the CPU); then decode-bench on ragged batches (random SmolLM2 weights),
# the final build (vi) against the same code with the ragged plan off (vi-nr), and vi on equal
# lengths.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s31
R=$OUT/r; mkdir -p $R
for b in vi vi-nr gpu_paged gpu_attention gpu_model; do xz -dc $S/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $R/gpu.txt
VECINFER_REQUIRE_GPU=1 timeout 200 /tmp/gpu_attention --ignored --test-threads 1 > $R/gpu_attention.log 2>&1; echo "gpu_attention rc $?"; grep -E "^test |test result" $R/gpu_attention.log
grep -E "ragged" $R/gpu_attention.log | head -12 | cut -c1-160
VECINFER_REQUIRE_GPU=1 timeout 60 /tmp/gpu_paged --ignored random_caches > $R/gpu_paged.log 2>&1; echo "gpu_paged rc $?"; grep -E "test result" $R/gpu_paged.log
VECINFER_REQUIRE_GPU=1 timeout 120 /tmp/gpu_model --ignored tiny_random > $R/gpu_model.log 2>&1; echo "gpu_model rc $?"; grep -E "^test |test result" $R/gpu_model.log
VECINFER_REQUIRE_GPU=1 timeout 120 /tmp/vi gpu-check > $R/gpu-check.log 2>&1; echo "gpu-check rc $?: $(grep -cE '^PASS' $R/gpu-check.log) PASS"; grep -E "^FAIL" $R/gpu-check.log | cut -c1-200
DB="decode-bench --random-weights --caches fp16,d4b8/d4b8 --batches 8,32 --contexts 8192,32768 --tune-fp16 off --largest-at="
for v in vi vi-nr; do
  timeout 110 /tmp/$v $DB --ragged --json $R/db-ragged-$v.json > $R/db-ragged-$v.txt 2>&1; echo "decode-bench ragged $v rc $?"
done
timeout 110 /tmp/vi $DB --json $R/db-equal-vi.json > $R/db-equal-vi.txt 2>&1; echo "decode-bench equal vi rc $?"
for f in db-ragged-vi db-ragged-vi-nr db-equal-vi; do echo "== $f"; grep -A8 -E '^cache ' $R/$f.txt | cut -c1-150; done
cd $OUT && tar czf r.tgz r && rm -r r
