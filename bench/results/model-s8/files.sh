#!/usr/bin/env bash
# Session 8, real-model call 3 of 4 (after real-part.sh a and b of session 7, one warm GPU):
# this session's binary and the codebook files of the 60-window evals into /root/vi; meanwhile
# the GPU tests after the review fixes (the runtime's attention and append as dependent
# launches on every other config; NaN-poisoned partials are covered by the CPU emulation) and
# the engine's checks on the small model with memcheck (the FP16 decode attention now clamps
# lengths to the capacity).
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
mkdir -p /root/vi && cp .carry/s8q/* /root/vi/ && ls /root/vi | tr '\n' ' '; echo
V=/root/vi; for b in vecinfer-new gpu_paged gpu_append; do xz -dc $V/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
VECINFER_REQUIRE_GPU=1 timeout 150 /tmp/gpu_paged --include-ignored --test-threads 1 --nocapture > $OUT/gpu-paged.log 2>&1; echo "gpu_paged rc $?"
VECINFER_REQUIRE_GPU=1 timeout 100 /tmp/gpu_append --include-ignored --test-threads 1 --nocapture > $OUT/gpu-append.log 2>&1; echo "gpu_append rc $?"
grep -hE "^test result|FAILED|panicked" $OUT/gpu-*.log; grep -hc "dependent launches" $OUT/gpu-*.log
timeout 120 /tmp/vecinfer-new gpu-check --json $OUT/check-tiny.json > $OUT/check-tiny.txt 2>&1; echo "gpu-check rc $?"; grep -E "passed|FAIL" $OUT/check-tiny.txt | cut -c1-120
timeout 150 compute-sanitizer --tool memcheck --print-limit 20 /tmp/vecinfer-new gpu-check > $OUT/memcheck.txt 2>&1; echo "memcheck rc $?"; tail -1 $OUT/memcheck.txt
cd $OUT && tar czf files-checks.tgz *.log *.txt *.json && rm -f *.log *.txt *.json
