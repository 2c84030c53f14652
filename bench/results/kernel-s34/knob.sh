#!/usr/bin/env bash
# Session 34, H200: the key mma's rows as a config axis (key_token_rows; default: tokens at head
# dim 128, heads at 64). GPU tests (every mma axis in both forms), gpu-check, gpu_paged, the
# Llama-shape test under memcheck and racecheck, then `bench` of both forms in one process
# (--key-token-rows false,true), Llama and SmolLM2 shapes, two rounds.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s34
R=$OUT/r; mkdir -p $R
for b in vi gpu_attention gpu_paged; do xz -dc $S/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
T0=$(date +%s)
VECINFER_REQUIRE_GPU=1 timeout 240 /tmp/gpu_attention --ignored --test-threads 1 > $R/gpu_attention.log 2>&1; echo "gpu_attention rc $? at $(( $(date +%s) - T0 )) s"
grep -E "^test |test result" $R/gpu_attention.log
VECINFER_REQUIRE_GPU=1 timeout 60 /tmp/gpu_paged --ignored --test-threads 1 > $R/gpu_paged.log 2>&1; echo "gpu_paged rc $? at $(( $(date +%s) - T0 )) s"
grep -E "test result" $R/gpu_paged.log
timeout 80 /tmp/vi gpu-check > $R/gpu-check.log 2>&1; echo "gpu-check rc $? PASS $(grep -cE '^PASS' $R/gpu-check.log) FAIL $(grep -cE '^FAIL' $R/gpu-check.log) at $(( $(date +%s) - T0 )) s"
for tool in memcheck racecheck; do
  VECINFER_REQUIRE_GPU=1 timeout 120 compute-sanitizer --tool $tool --error-exitcode 9 /tmp/gpu_attention --ignored --exact llama_shape_matches_the_cpu_reference --test-threads 1 > $R/llama-$tool.log 2>&1
  echo "llama shape under $tool rc $? at $(( $(date +%s) - T0 )) s"; grep -E "ERROR SUMMARY|RACECHECK SUMMARY|test result" $R/llama-$tool.log
done
C="--codecs d4b8/d4b8 --runs 50 --key-token-rows false,true"
for round in 1 2; do
  timeout 60 /tmp/vi bench $C --shapes 1x32768,8x32768,32x8192,64x8192,128x4096 --json $R/llama-$round.json > $R/llama-$round.txt 2>&1 || echo "llama rc $?"
  timeout 60 /tmp/vi bench $C --heads 9 --kv-heads 3 --head-dim 64 --layouts paged64 --shapes 1x32768,8x32768,32x8192,64x8192,256x2048 --json $R/smol-$round.json > $R/smol-$round.txt 2>&1 || echo "smol rc $?"
done
echo "bench at $(( $(date +%s) - T0 )) s"
for f in $R/llama-1.txt $R/llama-2.txt $R/smol-1.txt $R/smol-2.txt; do grep -hE "verified|^ +[0-9]+x[0-9]+:|rror" $f; done
cd $OUT && tar czf r.tgz r && rm -r r
