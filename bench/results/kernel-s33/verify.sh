#!/usr/bin/env bash
# Session 33, H200: session 32's last commits (review fixes, the graph-replay test) on a GPU:
# gpu_attention (with a_graph_replayed_after_another_plan_gives_nan), gpu_paged, gpu-check, and
# memcheck on the two work-list tests.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s33
R=$OUT/r; mkdir -p $R
for b in vi gpu_attention gpu_paged; do xz -dc $S/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $R/gpu.txt
T0=$(date +%s)
VECINFER_REQUIRE_GPU=1 timeout 200 /tmp/gpu_attention --ignored --test-threads 1 > $R/gpu_attention.log 2>&1; echo "gpu_attention rc $? at $(( $(date +%s) - T0 )) s"
grep -E "^test |test result" $R/gpu_attention.log
VECINFER_REQUIRE_GPU=1 timeout 120 /tmp/gpu_paged --ignored --test-threads 1 > $R/gpu_paged.log 2>&1; echo "gpu_paged rc $? at $(( $(date +%s) - T0 )) s"
grep -E "^test |test result" $R/gpu_paged.log
timeout 150 /tmp/vi gpu-check > $R/gpu-check.log 2>&1; echo "gpu-check rc $? PASS $(grep -cE '^PASS' $R/gpu-check.log) FAIL $(grep -cE '^FAIL' $R/gpu-check.log) at $(( $(date +%s) - T0 )) s"
for t in a_graph_replayed_after_another_plan_gives_nan launches_planned_for_longer_sequences_match_the_cpu_reference; do
  VECINFER_REQUIRE_GPU=1 timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 /tmp/gpu_attention --ignored --exact $t --test-threads 1 > $R/memcheck-$t.log 2>&1
  echo "memcheck $t rc $? at $(( $(date +%s) - T0 )) s"; grep -E "ERROR SUMMARY|test result" $R/memcheck-$t.log
done
cd $OUT && tar czf r.tgz r && rm -r r
