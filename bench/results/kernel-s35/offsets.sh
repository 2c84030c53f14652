#!/usr/bin/env bash
# Session 35, H200: offset codes (d4b8/d4b8 with 16 copies: both codebooks in one table of
# 256-byte entries, each code made into its entry's byte offset by one byte permute). GPU tests
# and gpu-check of the new build (vi), `bench` of the paired-values commit (vold, a3ac2fe) and
# vi interleaved, two rounds, Llama and SmolLM2 shapes; then occupancy variants of vi on the
# Llama shape (the output registers halved with paired values).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s35
R=$OUT/r; mkdir -p $R
for b in vi vold gpu_attention gpu_paged; do xz -dc $S/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $R/gpu.txt
T0=$(date +%s)
VECINFER_REQUIRE_GPU=1 timeout 200 /tmp/gpu_attention --ignored --test-threads 1 > $R/gpu_attention.log 2>&1; echo "gpu_attention rc $? at $(( $(date +%s) - T0 )) s"
grep -E "test result|FAILED|panicked" $R/gpu_attention.log | head -5
VECINFER_REQUIRE_GPU=1 timeout 80 /tmp/gpu_paged --ignored --test-threads 1 > $R/gpu_paged.log 2>&1; echo "gpu_paged rc $? at $(( $(date +%s) - T0 )) s"
grep -E "test result|FAILED|panicked" $R/gpu_paged.log | head -5
timeout 80 /tmp/vi gpu-check > $R/gpu-check.log 2>&1; echo "gpu-check rc $? PASS $(grep -cE '^PASS' $R/gpu-check.log) FAIL $(grep -cE '^FAIL' $R/gpu-check.log) at $(( $(date +%s) - T0 )) s"
C="--codecs d4b8/d4b8 --runs 50"
SMOL="--heads 9 --kv-heads 3 --head-dim 64"
LL=1x32768,8x32768,32x8192,64x8192,128x4096
for round in 1 2; do
  for v in vold vi; do
    timeout 40 /tmp/$v bench $C --shapes $LL > $R/llama-$v-$round.txt 2>&1 || echo "llama $v rc $?"
    timeout 40 /tmp/$v bench $C $SMOL --layouts paged64 --shapes 1x32768,8x32768,32x8192,64x8192,256x2048 > $R/smol-$v-$round.txt 2>&1 || echo "smol $v rc $?"
  done
done
echo "bench at $(( $(date +%s) - T0 )) s"
for s in llama smol; do for round in 1 2; do paste <(grep -E "verified|^ +[0-9]+x[0-9]+:" $R/$s-vold-$round.txt | sed 's/_layer.*(worst/ (worst/') <(grep -E "verified|^ +[0-9]+x[0-9]+:" $R/$s-vi-$round.txt | sed 's/_layer.*(worst/ (worst/'); done; done
for cfg in "t512w4:--tile 512 --warps 4 --min-blocks 0" "t256w8mb2:--tile 256 --warps 8 --min-blocks 2" "t256w4mb4r8:--tile 256 --warps 4 --min-blocks 4 --replicas 8" "t128w4mb4r8:--tile 128 --warps 4 --min-blocks 4 --replicas 8" "t512w8mb2:--tile 512 --warps 8 --min-blocks 2"; do
  n=${cfg%%:*}; a=${cfg#*:}
  timeout 40 /tmp/vi bench $C $a --shapes $LL > $R/cfg-$n.txt 2>&1 || echo "$n rc $?"
  echo "== $n"; grep -E "verified|^ +[0-9]+x[0-9]+:|rror" $R/cfg-$n.txt | sed 's/_layer.*(worst/ (worst/' | tr '\n' ' '; echo
done
echo "all at $(( $(date +%s) - T0 )) s"
cd $OUT && tar czf r.tgz r && rm -r r
