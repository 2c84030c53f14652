#!/usr/bin/env bash
# Session 36, H200: offset codes with the table's base as the loads' immediate (sm_90: dynamic
# shared memory at window address 0x400 without clusters; checked once per block, trap if not).
# GPU tests and gpu-check of the new build (vi), memcheck of its bench, then `bench` of the
# base (vold, 0c9b279) and vi interleaved, two rounds, Llama (both key forms) and SmolLM2.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s36
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
SMOL="--heads 9 --kv-heads 3 --head-dim 64 --layouts paged64"
LL=1x32768,1x131072,8x32768,32x8192,64x8192,128x4096
SS=1x32768,8x32768,32x8192,64x8192,256x2048
timeout 120 compute-sanitizer --tool memcheck /tmp/vi bench --codecs d4b8/d4b8 --runs 1 --shapes 1x4096,8x2048 > $R/memcheck-llama.txt 2>&1; echo "memcheck llama rc $?: $(grep -E 'ERROR SUMMARY' $R/memcheck-llama.txt)"
timeout 120 compute-sanitizer --tool memcheck /tmp/vi bench --codecs d4b8/d4b8 --runs 1 $SMOL --key-token-rows true,false --shapes 1x4096,8x2048 > $R/memcheck-smol.txt 2>&1; echo "memcheck smol rc $?: $(grep -E 'ERROR SUMMARY' $R/memcheck-smol.txt)"
for round in 1 2; do
  for kr in true false; do
    for v in vold vi; do
      timeout 60 /tmp/$v bench $C --key-token-rows $kr --shapes $LL > $R/llama-$v-$kr-$round.txt 2>&1 || echo "llama $v $kr rc $?"
      timeout 60 /tmp/$v bench $C $SMOL --key-token-rows $kr --shapes $SS > $R/smol-$v-$kr-$round.txt 2>&1 || echo "smol $v $kr rc $?"
    done
  done
done
echo "bench at $(( $(date +%s) - T0 )) s"
for f in $R/*-vold-*.txt; do g=${f/-vold-/-vi-}; echo "== $(basename $f) vs vi"; paste <(grep -E "verified|^ +[0-9]+x[0-9]+:" $f | sed 's/_layer.*(worst/ (worst/') <(grep -E "verified|^ +[0-9]+x[0-9]+:|FAILED" $g | sed 's/_layer.*(worst/ (worst/'); done
for cfg in "t512w4:--tile 512 --warps 4 --min-blocks 0"; do
  n=${cfg%%:*}; a=${cfg#*:}
  for v in vold vi; do
    timeout 60 /tmp/$v bench $C $a --shapes $LL > $R/cfg-$n-$v.txt 2>&1 || echo "$n $v rc $?"
    echo "== $n $v"; grep -E "verified|^ +[0-9]+x[0-9]+:|rror|FAILED" $R/cfg-$n-$v.txt | sed 's/_layer.*(worst/ (worst/' | tr '\n' ' '; echo
  done
done
echo "all at $(( $(date +%s) - T0 )) s"
cd $OUT && tar czf r.tgz r && rm -r r
