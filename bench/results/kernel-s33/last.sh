#!/usr/bin/env bash
# Session 33, H200: the last build (review fixes: the merge weighs an empty split's sum and
# values by 0 instead of selecting them away, so all-NaN scores give NaN; the graph test for
# both kernel families with a per-entry check of an uncovered one-piece plan): gpu_attention,
# gpu-check, gpu_paged (the session's last 283 s of device time: no timing).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s33
R=$OUT/r; mkdir -p $R
for b in vi gpu_attention gpu_paged; do xz -dc $S/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
T0=$(date +%s)
VECINFER_REQUIRE_GPU=1 timeout 150 /tmp/gpu_attention --ignored --test-threads 1 > $R/gpu_attention.log 2>&1; echo "gpu_attention rc $? at $(( $(date +%s) - T0 )) s"
grep -E "^test |test result" $R/gpu_attention.log
timeout 80 /tmp/vi gpu-check > $R/gpu-check.log 2>&1; echo "gpu-check rc $? PASS $(grep -cE '^PASS' $R/gpu-check.log) FAIL $(grep -cE '^FAIL' $R/gpu-check.log) at $(( $(date +%s) - T0 )) s"
VECINFER_REQUIRE_GPU=1 timeout 50 /tmp/gpu_paged --ignored --test-threads 1 > $R/gpu_paged.log 2>&1; echo "gpu_paged rc $? at $(( $(date +%s) - T0 )) s"
grep -E "test result" $R/gpu_paged.log
cd $OUT && tar czf r.tgz r && rm -r r
