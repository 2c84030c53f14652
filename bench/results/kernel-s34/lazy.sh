#!/usr/bin/env bash
# Session 34, H200: lazy rescale in the online softmax (a vote; the max's shuffles and the
# rescale only when a score exceeds the running max by more than 8): GPU tests and gpu-check of
# the new build, then `bench` of main (vold, bec0f6d) and the new build (vi), interleaved, two
# rounds, Llama and SmolLM2 shapes.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s34
R=$OUT/r; mkdir -p $R
for b in vi vold gpu_attention; do xz -dc $S/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
T0=$(date +%s)
VECINFER_REQUIRE_GPU=1 timeout 200 /tmp/gpu_attention --ignored --test-threads 1 > $R/gpu_attention.log 2>&1; echo "gpu_attention rc $? at $(( $(date +%s) - T0 )) s"
grep -E "test result|FAILED|panicked" $R/gpu_attention.log | head -5
timeout 80 /tmp/vi gpu-check > $R/gpu-check.log 2>&1; echo "gpu-check rc $? PASS $(grep -cE '^PASS' $R/gpu-check.log) FAIL $(grep -cE '^FAIL' $R/gpu-check.log) at $(( $(date +%s) - T0 )) s"
C="--codecs d4b8/d4b8 --runs 50"
for round in 1 2; do
  for v in vold vi; do
    timeout 40 /tmp/$v bench $C --shapes 1x32768,8x32768,32x8192,64x8192,128x4096 > $R/llama-$v-$round.txt 2>&1 || echo "llama $v rc $?"
    timeout 40 /tmp/$v bench $C --heads 9 --kv-heads 3 --head-dim 64 --layouts paged64 --shapes 1x32768,8x32768,32x8192,64x8192,256x2048 > $R/smol-$v-$round.txt 2>&1 || echo "smol $v rc $?"
  done
done
echo "bench at $(( $(date +%s) - T0 )) s"
for s in llama smol; do for round in 1 2; do paste <(grep -E "verified|^ +[0-9]+x[0-9]+:" $R/$s-vold-$round.txt | sed 's/_layer.*(worst/ (worst/') <(grep -E "verified|^ +[0-9]+x[0-9]+:" $R/$s-vi-$round.txt | sed 's/_layer.*(worst/ (worst/'); done; done
cd $OUT && tar czf r.tgz r && rm -r r
