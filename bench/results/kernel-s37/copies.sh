#!/usr/bin/env bash
# Session 37, H200: per-book copies (a book over 256 entries keeps one copy, the other book takes
# the replicas). GPU tests, then `bench` of the 12-bit-key codecs with 1 to 8 (16) copies of the
# value book, then memcheck and racecheck over `bench` of the new variants.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s37
R=$OUT/r; mkdir -p $R
for b in vi gpu_attention gpu_paged; do xz -dc $S/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $R/gpu.txt
T0=$(date +%s)
VECINFER_REQUIRE_GPU=1 timeout 200 /tmp/gpu_attention --ignored --test-threads 1 > $R/gpu_attention.log 2>&1; echo "gpu_attention rc $? at $(( $(date +%s) - T0 )) s"
grep -E "^test |test result" $R/gpu_attention.log
VECINFER_REQUIRE_GPU=1 timeout 60 /tmp/gpu_paged --ignored --test-threads 1 > $R/gpu_paged.log 2>&1; echo "gpu_paged rc $? at $(( $(date +%s) - T0 )) s"
grep -E "test result" $R/gpu_paged.log
L=8x32768,32x8192,64x8192,128x4096
K8="--codecs d8b12/d8b8 --shapes $L --runs 30 --key-token-rows false"
timeout 90 /tmp/vi bench $K8 --tile 256 --warps 4 --stages 2 --replicas 1,2,4,8 > $R/k8-t256.txt 2>&1; echo "k8 t256 rc $? at $(( $(date +%s) - T0 )) s"
timeout 60 /tmp/vi bench $K8 --tile 512 --warps 4 --stages 2 --replicas 1,8 > $R/k8-t512.txt 2>&1; echo "k8 t512 rc $? at $(( $(date +%s) - T0 )) s"
timeout 90 /tmp/vi bench $K8 --tile 128 --warps 4 --stages 1,2 --replicas 1,8 > $R/k8-t128.txt 2>&1; echo "k8 t128 rc $? at $(( $(date +%s) - T0 )) s"
timeout 90 /tmp/vi bench --codecs d4b12/d4b8 --shapes $L --runs 30 --key-token-rows true --tile 128 --warps 4 --stages 1,2 --min-blocks 2 --replicas 1,4,16 > $R/k4.txt 2>&1; echo "k4 rc $? at $(( $(date +%s) - T0 )) s"
for tool in memcheck racecheck; do
  timeout 100 compute-sanitizer --tool $tool --print-limit 20 --error-exitcode 9 /tmp/vi bench --codecs d8b12/d8b8 --runs 2 --tile 256 --stages 2 --replicas 8 --key-token-rows false,true --shapes 2x2048,1x5000 > $R/$tool-k8.txt 2>&1
  echo "$tool k8 rc $? at $(( $(date +%s) - T0 )) s: $(grep -c verified $R/$tool-k8.txt) verified; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $R/$tool-k8.txt)"
  timeout 100 compute-sanitizer --tool $tool --print-limit 20 --error-exitcode 9 /tmp/vi bench --codecs d4b12/d4b8 --runs 2 --tile 128 --stages 2 --replicas 16 --key-token-rows false,true --heads 9 --kv-heads 3 --head-dim 64 --layouts paged64 --shapes 2x2048,1x5000 > $R/$tool-k4.txt 2>&1
  echo "$tool k4 rc $? at $(( $(date +%s) - T0 )) s: $(grep -c verified $R/$tool-k4.txt) verified; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $R/$tool-k4.txt)"
done
for f in k8-t256 k8-t512 k8-t128 k4; do echo "== $f"; grep -hE "^ +[0-9]+ +[0-9]+ |rror|FAILED|verified" $R/$f.txt | sed "s/  */ /g" | cut -c1-200; done
cd $OUT && tar czf r.tgz r && rm -r r
