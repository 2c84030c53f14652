#!/usr/bin/env bash
# Session 29, H200: how long the attention and merge kernels take by themselves (Nsight Compute's
# gpu__time_duration) against what `bench` times between events around one call, at batch 1 and
# batch 8 on the Llama shape (default config, d4b8). Carry .carry/s29k (vi-old.xz = main).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
R=/tmp/r; mkdir -p $R; [ -x $R/vi-old ] || { xz -dc .carry/s29k/vi-old.xz > $R/vi-old; chmod +x $R/vi-old; }
for shape in 1x2048 1x32768 1x131072 8x32768; do
  B="$R/vi-old bench --shapes $shape --codecs d4b8/d4b8 --runs 5"
  echo "$shape bench: $($B 2>&1 | grep -hE "^  [0-9]+x[0-9]+: " | awk '{print $2}')"
  ncu -k regex:vq_ --launch-skip 8 --launch-count 4 --metrics gpu__time_duration.sum,launch__grid_size,launch__registers_per_thread,sm__cycles_active.avg \
    $B > $OUT/ncu-$shape.txt 2>&1; echo "ncu rc $?"
  grep -E "vq_|gpu__time_duration|launch__grid_size|sm__cycles_active" $OUT/ncu-$shape.txt | sed -E 's/ +/ /g' | cut -c1-120
done
