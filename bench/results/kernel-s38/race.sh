#!/usr/bin/env bash
# Session 38, H200: map session 37's racecheck hazards (gpu_attention's Llama-shape test, the
# d8b12/d8b8 default in the tokens form). The test once without the sanitizer (fills the kernel
# cache: NVRTC under racecheck crashed), then under racecheck with each hazard's threads and
# shared addresses; the kernel's CUBIN and SASS; `bench --ragged` of the same config under
# racecheck.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc VECINFER_REQUIRE_GPU=1
S=$PWD/.carry/${BIN:-s37}
R=$OUT/r; mkdir -p $R/cubins
for b in vi gpu_attention; do xz -dc $S/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
timed() { local name=$1 limit=$2; shift 2; local start=$(date +%s); timeout $limit "$@" > $R/$name.log 2>&1; echo "$name rc $? in $(( $(date +%s) - start )) s"; }
T="--ignored --exact llama_shape_matches_the_cpu_reference --test-threads 1"
timed warm 90 /tmp/gpu_attention $T
grep -aE "test result" $R/warm.log
timed racecheck 120 compute-sanitizer --tool racecheck --racecheck-report hazard --print-limit 60 /tmp/gpu_attention $T
grep -aE "RACECHECK SUMMARY|test result" $R/racecheck.log
K=kd8b12_vd8b8_layer_smooth_hadamard_t256_w4_p2_l8_sauto_mma_ktr_f16
for f in /tmp/vc/kernels/*; do grep -q "$K" $f && cp $f $R/cubins/; done
ls -la $R/cubins
for f in $R/cubins/*.cubin; do nvdisasm -c $f > $f.sass 2>&1; cuobjdump -res-usage $f > $f.res 2>&1; done
timed bench-ragged 150 compute-sanitizer --tool racecheck --racecheck-report hazard --print-limit 10 /tmp/vi bench --codecs d8b12/d8b8 --key-token-rows true --ragged --runs 1 --shapes 2x4096,8x4096
grep -aE "verified|RACECHECK SUMMARY" $R/bench-ragged.log
cd $OUT && tar czf r.tgz r && rm -r r
