#!/usr/bin/env bash
# Session 34, H200: main (vold), v1 (tokens as the key mma's rows) and v3 (v1, and for groups of
# up to 4 heads the 8 columns split by dims: no register moves) under Nsight Compute; v3's
# gpu-check and its GPU tests of the mma axes, the split query and the Llama shape.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s34
R=$OUT/r; mkdir -p $R
for b in vold v1 v3 gpu_attention-v3; do xz -dc $S/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
T0=$(date +%s)
timeout 100 /tmp/v3 gpu-check > $R/gpu-check.log 2>&1; echo "gpu-check rc $? PASS $(grep -cE '^PASS' $R/gpu-check.log) FAIL $(grep -cE '^FAIL' $R/gpu-check.log) at $(( $(date +%s) - T0 )) s"
grep -E "^FAIL" $R/gpu-check.log | head -5
for t in every_mma_axis_matches_the_cpu_reference the_split_query_low_part_lowers_the_error llama_shape_matches_the_cpu_reference; do
  VECINFER_REQUIRE_GPU=1 timeout 100 /tmp/gpu_attention-v3 --ignored --exact $t --test-threads 1 >> $R/gpu_attention.log 2>&1; echo "$t rc $?"
done
echo "tests at $(( $(date +%s) - T0 )) s"
while read name args; do
  for v in vold v1 v3; do
    timeout 60 ncu -k regex:vq_att --launch-skip 10 --launch-count 6 --metrics gpu__time_duration.sum \
      /tmp/$v bench --codecs d4b8/d4b8 --runs 5 $args > $R/ncu-$name-$v.txt 2>&1 || echo "ncu $name $v rc $?"
    echo "$name $v $(grep gpu__time_duration $R/ncu-$name-$v.txt | awk '{print $NF}' | sort -n | sed -n 3,4p | tr '\n' ' ')"
  done
done <<'SHAPES'
smol-8x32k --shapes 8x32768 --heads 9 --kv-heads 3 --head-dim 64 --layouts paged64
smol-64x8k --shapes 64x8192 --heads 9 --kv-heads 3 --head-dim 64 --layouts paged64
llama-8x32k --shapes 8x32768
llama-32x8k --shapes 32x8192
llama-128x4k --shapes 128x4096
SHAPES
echo "ncu at $(( $(date +%s) - T0 )) s"
cd $OUT && tar czf r.tgz r && rm -r r
