#!/usr/bin/env bash
# Session 38, H200, the final build (after the review's fixes): gpu_attention and gpu_paged in
# full, then the e4m3 test under racecheck and memcheck (scripts/gpu-sanitize.sh).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s38d
R=$OUT/r; mkdir -p $R/gpu
for b in gpu_attention gpu_paged; do xz -dc $S/$b.xz > $R/gpu/$b && chmod +x $R/gpu/$b; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $R/gpu.txt
T0=$(date +%s)
timed() { local name=$1 limit=$2; shift 2; local start=$(date +%s); timeout $limit "$@" > $R/$name.log 2>&1; echo "$name rc $? in $(( $(date +%s) - start )) s"; }
export VECINFER_REQUIRE_GPU=1
timed gpu_attention 200 $R/gpu/gpu_attention --ignored --test-threads 1
grep -aE "^test |test result" $R/gpu_attention.log
timed gpu_paged 80 $R/gpu/gpu_paged --ignored --test-threads 1
grep -aE "test result" $R/gpu_paged.log
mkdir -p $R/sanitize
TEST_ARGS="--exact e4m3_key_books_match_the_cpu_reference" LOGS=$R/sanitize VECINFER_CACHE_DIR=/tmp/vc-san timeout 200 bash scripts/gpu-sanitize.sh $R/gpu gpu_attention; echo "sanitize rc $? at $(( $(date +%s) - T0 )) s"
rm -r $R/gpu
cd $OUT && tar czf r.tgz r && rm -r r
