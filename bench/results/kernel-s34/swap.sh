#!/usr/bin/env bash
# Session 34, H200: keys scored with the tokens as the mma's rows (Sᵀ = K · Qᵀ, one mma per 16
# tokens and chunk; probabilities transposed by movmatrix) against main (vold): gpu-check and
# gpu_attention of the new build, then Nsight Compute of the attention kernel and one `bench`
# round of each.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s34
R=$OUT/r; mkdir -p $R
for b in vold vnew gpu_attention; do xz -dc $S/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
T0=$(date +%s)
timeout 100 /tmp/vnew gpu-check > $R/gpu-check.log 2>&1; echo "gpu-check rc $? PASS $(grep -cE '^PASS' $R/gpu-check.log) FAIL $(grep -cE '^FAIL' $R/gpu-check.log) at $(( $(date +%s) - T0 )) s"
grep -E "^FAIL" $R/gpu-check.log | head -5
VECINFER_REQUIRE_GPU=1 timeout 170 /tmp/gpu_attention --ignored --test-threads 1 > $R/gpu_attention.log 2>&1; echo "gpu_attention rc $? at $(( $(date +%s) - T0 )) s"
grep -E "^test |test result" $R/gpu_attention.log
while read name args; do
  for v in vold vnew; do
    timeout 60 ncu -k regex:vq_att --launch-skip 10 --launch-count 6 --metrics gpu__time_duration.sum \
      /tmp/$v bench --codecs d4b8/d4b8 --runs 5 $args > $R/ncu-$name-$v.txt 2>&1 || echo "ncu $name $v rc $?"
    echo "$name $v $(grep gpu__time_duration $R/ncu-$name-$v.txt | awk '{print $NF}' | sort -n | sed -n 3,4p | tr '\n' ' ') ($(grep gpu__time_duration $R/ncu-$name-$v.txt | head -1 | awk '{print $(NF-1)}'))"
  done
done <<'SHAPES'
smol-8x32k --shapes 8x32768 --heads 9 --kv-heads 3 --head-dim 64 --layouts paged64
smol-64x8k --shapes 64x8192 --heads 9 --kv-heads 3 --head-dim 64 --layouts paged64
llama-8x32k --shapes 8x32768
llama-128x4k --shapes 128x4096
SHAPES
echo "ncu at $(( $(date +%s) - T0 )) s"
C="--codecs d4b8/d4b8 --runs 50"
SMOL="--heads 9 --kv-heads 3 --head-dim 64 --layouts paged64"
for v in vold vnew; do
  timeout 60 /tmp/$v bench $C $SMOL --shapes 1x32768,8x32768,64x8192,256x2048 > $R/se-$v.txt 2>&1 || echo "se $v rc $?"
  timeout 60 /tmp/$v bench $C --layouts contiguous --shapes 1x32768,8x32768,32x8192,64x8192,128x4096 > $R/eq-$v.txt 2>&1 || echo "eq $v rc $?"
done
echo "bench at $(( $(date +%s) - T0 )) s"
for f in se eq; do paste <(grep -E "verified|^ +[0-9]+x[0-9]+:" $R/$f-vold.txt) <(grep -E "verified|^ +[0-9]+x[0-9]+:" $R/$f-vnew.txt) | cut -c1-220; done
cd $OUT && tar czf r.tgz r && rm -r r
