#!/usr/bin/env bash
# Session 34, H200: the landed build (47a132d: lazy rescale in the tokens form only) on a GPU:
# gpu_attention, gpu_paged, gpu-check, one `bench` round of the Llama and SmolLM2 defaults.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s34
R=$OUT/r; mkdir -p $R
for b in vi gpu_attention gpu_paged; do xz -dc $S/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
T0=$(date +%s)
VECINFER_REQUIRE_GPU=1 timeout 170 /tmp/gpu_attention --ignored --test-threads 1 > $R/gpu_attention.log 2>&1; echo "gpu_attention rc $? at $(( $(date +%s) - T0 )) s"
grep -E "test result|FAILED|panicked" $R/gpu_attention.log | head -5
VECINFER_REQUIRE_GPU=1 timeout 50 /tmp/gpu_paged --ignored --test-threads 1 > $R/gpu_paged.log 2>&1; echo "gpu_paged rc $? at $(( $(date +%s) - T0 )) s"
grep -E "test result" $R/gpu_paged.log
timeout 70 /tmp/vi gpu-check > $R/gpu-check.log 2>&1; echo "gpu-check rc $? PASS $(grep -cE '^PASS' $R/gpu-check.log) FAIL $(grep -cE '^FAIL' $R/gpu-check.log) at $(( $(date +%s) - T0 )) s"
C="--codecs d4b8/d4b8 --runs 50"
timeout 30 /tmp/vi bench $C --shapes 1x32768,8x32768,32x8192,64x8192,128x4096 > $R/llama.txt 2>&1 || echo "llama rc $?"
timeout 30 /tmp/vi bench $C --heads 9 --kv-heads 3 --head-dim 64 --layouts paged64 --shapes 1x32768,8x32768,32x8192,64x8192,256x2048 > $R/smol.txt 2>&1 || echo "smol rc $?"
grep -hE "verified|^ +[0-9]+x[0-9]+:|rror" $R/llama.txt $R/smol.txt
cd $OUT && tar czf r.tgz r && rm -r r
