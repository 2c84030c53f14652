#!/usr/bin/env bash
# Session 36, H200: 12-bit code spans read as words or halves (read_codes), where read_code took
# three byte loads per code. GPU attention tests of the new build (vi; every mma axis now has
# d4b12/d4b12 at head dim 128), then `bench` of the base (vold, 0c9b279) and vi interleaved, two
# rounds: the Llama shape with d4b12/d4b8, d8b12/d8b8 and d8b12/d8b12, SmolLM2's with d4b12/d4b8.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s36
R=$OUT/r; mkdir -p $R
for b in vi vold gpu_attention; do xz -dc $S/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $R/gpu.txt
T0=$(date +%s)
VECINFER_REQUIRE_GPU=1 timeout 200 /tmp/gpu_attention --ignored --test-threads 1 > $R/gpu_attention.log 2>&1; echo "gpu_attention rc $? at $(( $(date +%s) - T0 )) s"
grep -E "test result|FAILED|panicked" $R/gpu_attention.log | head -5
SMOL="--heads 9 --kv-heads 3 --head-dim 64"
LL=1x32768,8x32768,32x8192,64x8192,128x4096
SS=1x32768,8x32768,64x8192,256x2048
for round in 1 2; do
  for v in vold vi; do
    for c in d4b12/d4b8 d8b12/d8b8 d8b12/d8b12; do
      n=$(echo $c | tr / -)
      timeout 60 /tmp/$v bench --codecs $c --runs 30 --shapes $LL > $R/llama-$n-$v-$round.txt 2>&1 || echo "llama $c $v rc $?"
    done
    timeout 60 /tmp/$v bench --codecs d4b12/d4b8 --runs 30 $SMOL --shapes $SS > $R/smol-d4b12-d4b8-$v-$round.txt 2>&1 || echo "smol $v rc $?"
  done
  echo "round $round at $(( $(date +%s) - T0 )) s"
done
for f in $R/*-vold-1.txt; do echo "== $(basename $f)"; for round in 1 2; do g=${f/-1.txt/-$round.txt}; paste <(grep -E "verified|^ +[0-9]+x[0-9]+:" $g | sed 's/_layer.*(worst/ (worst/') <(grep -E "verified|^ +[0-9]+x[0-9]+:|FAILED" ${g/-vold-/-vi-} | sed 's/_layer.*(worst/ (worst/'); done; done
echo "all at $(( $(date +%s) - T0 )) s"
cd $OUT && tar czf r.tgz r && rm -r r
