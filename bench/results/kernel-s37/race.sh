#!/usr/bin/env bash
# Session 37, H200: the racecheck hazards that gpu_attention's Llama-shape test showed
# (`verify-h200/racecheck-llama.log`): the same run again, keeping the CUBINs it compiled (to
# map the reported offsets), and `bench` under racecheck on the d8b12/d8b8 default (both key
# forms) and d8b12/d8b12 at the test's lengths.
# (This run found no CUBINs: the cache keeps them under kernels/, fixed in the script since.)
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc VECINFER_REQUIRE_GPU=1
S=$PWD/.carry/s37
R=$OUT/r; mkdir -p $R/cubins
for b in vi gpu_attention; do xz -dc $S/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
timed() { local name=$1 limit=$2; shift 2; local start=$(date +%s); timeout $limit "$@" > $R/$name.log 2>&1; echo "$name rc $? in $(( $(date +%s) - start )) s"; }
timed racecheck-llama 120 compute-sanitizer --tool racecheck --print-limit 40 /tmp/gpu_attention --ignored --exact llama_shape_matches_the_cpu_reference --test-threads 1
grep -aE "RACECHECK SUMMARY|test result" $R/racecheck-llama.log
for f in /tmp/vc/kernels/*.cubin; do grep -q "kd8b12_vd8b8_layer_smooth_hadamard_t256_w4_p2_l8_sauto_mma_ktr_f16" $f && cp $f $R/cubins/; done
ls $R/cubins
A="--runs 1 --shapes 2x4096"
timed bench-k8-forms 100 compute-sanitizer --tool racecheck --print-limit 10 /tmp/vi bench --codecs d8b12/d8b8 --key-token-rows true,false $A
grep -aE "verified|RACECHECK SUMMARY" $R/bench-k8-forms.log
timed bench-k12 100 compute-sanitizer --tool racecheck --print-limit 10 /tmp/vi bench --codecs d8b12/d8b12 $A
grep -aE "verified|RACECHECK SUMMARY" $R/bench-k12.log
cd $OUT && tar czf r.tgz r && rm -r r
