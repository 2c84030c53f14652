#!/usr/bin/env bash
# Session 37, H200, the final build (codegen a3ee221c4dbcfdf5): gpu_attention, gpu_paged and
# gpu-check; the Llama default K d4b12 / V d4b8 with 8 value copies (the default, which keeps
# the block within sm_86's 99 KB) against 16, two interleaved rounds; then racecheck of
# gpu_attention's Llama-shape test with room to finish (session 34's run of it stopped at
# `timeout 120` with "process didn't terminate successfully" and 0 hazards).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc VECINFER_REQUIRE_GPU=1
S=$PWD/.carry/s37
R=$OUT/r; mkdir -p $R
for b in vi gpu_attention gpu_paged; do xz -dc $S/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $R/gpu.txt
timed() { local name=$1 limit=$2; shift 2; local start=$(date +%s); timeout $limit "$@" > $R/$name.log 2>&1; echo "$name rc $? in $(( $(date +%s) - start )) s"; }
timed gpu_attention 200 /tmp/gpu_attention --ignored --test-threads 1
grep -E "^test |test result" $R/gpu_attention.log
timed gpu_paged 60 /tmp/gpu_paged --ignored --test-threads 1
grep -E "test result" $R/gpu_paged.log
timed gpu-check 80 /tmp/vi gpu-check
echo "gpu-check PASS $(grep -cE '^PASS' $R/gpu-check.log) FAIL $(grep -cE '^FAIL' $R/gpu-check.log)"
for round in 1 2; do timed copies-$round 60 /tmp/vi bench --codecs d4b12/d4b8 --replicas 8,16 --shapes 1x32768,8x32768,32x8192,64x8192,128x4096 --runs 30; done
timed racecheck-llama 280 compute-sanitizer --tool racecheck --error-exitcode 9 /tmp/gpu_attention --ignored --exact llama_shape_matches_the_cpu_reference --test-threads 1
grep -E "RACECHECK SUMMARY|test result|Error|error" $R/racecheck-llama.log | head -5
for f in copies-1 copies-2; do echo "== $f"; grep -hE "^ +[0-9]+ +[0-9]+ |FAILED" $R/$f.log | sed "s/  */ /g" | cut -c1-120; done
cd $OUT && tar czf r.tgz r && rm -r r
