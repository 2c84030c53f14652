#!/usr/bin/env bash
# Session 37, H200: gpu_attention's Llama-shape test under racecheck reported 9 hazards once
# (`verify-h200/`, kernel names garbled) and crashed once (`race-h200/`, rc 11), while `bench`
# under racecheck on the same kernels and lengths was clean. Its precompile runs NVRTC on every
# core. Here: the test under racecheck with its kernels already in the disk cache (no NVRTC
# under the sanitizer), twice; then cold on one core (one compile thread).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc VECINFER_REQUIRE_GPU=1
S=$PWD/.carry/s37
R=$OUT/r; mkdir -p $R
xz -dc $S/gpu_attention.xz > /tmp/gpu_attention && chmod +x /tmp/gpu_attention
timed() { local name=$1 limit=$2; shift 2; local start=$(date +%s); timeout $limit "$@" > $R/$name.log 2>&1; echo "$name rc $? in $(( $(date +%s) - start )) s"; }
T="--ignored --exact llama_shape_matches_the_cpu_reference --test-threads 1"
timed warm 60 /tmp/gpu_attention $T
grep -aE "test result" $R/warm.log
for i in 1 2; do
  timed racecheck-warm-$i 80 compute-sanitizer --tool racecheck --print-limit 20 /tmp/gpu_attention $T
  grep -aE "RACECHECK SUMMARY|test result|terminate" $R/racecheck-warm-$i.log
done
export VECINFER_CACHE_DIR=/tmp/vc-cold
timed racecheck-cold-1core 100 taskset -c 0 compute-sanitizer --tool racecheck --print-limit 20 /tmp/gpu_attention $T
grep -aE "RACECHECK SUMMARY|test result|terminate" $R/racecheck-cold-1core.log
ls /tmp/vc/kernels | wc -l
cd $OUT && tar czf r.tgz r && rm -r r
