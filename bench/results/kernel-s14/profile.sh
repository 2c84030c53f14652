#!/usr/bin/env bash
# Session 14, H100: where the big-batch loop stalls, per SASS instruction (ncu source counters),
# for the landed kernel at the Llama-3.1-8B shape, 64 x 8192, 2-bit d4b8 (default config = the
# shipped winner: mma+direct r16 t256 w4), and SmolLM2's 64 x 131072 (paged64, the same knobs).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
xz -dc .carry/s14/vi-old.xz > /tmp/vi && chmod +x /tmp/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
NCU=$(which ncu || ls /usr/local/cuda/bin/ncu)
for v in llama smollm2; do
  case $v in
    llama) A="--shapes 64x8192 --codecs d4b8/d4b8";;
    smollm2) A="--heads 9 --kv-heads 3 --head-dim 64 --shapes 64x131072 --codecs d4b8/d4b8 --layouts paged64";;
  esac
  timeout 240 $NCU --clock-control none --set full --import-source no -k regex:vq_attention --launch-skip 3 -c 1 \
    -o $OUT/$v /tmp/vi bench $A --runs 5 > $OUT/ncu-$v.log 2>&1; echo "ncu $v rc $?"
  $NCU --import $OUT/$v.ncu-rep --page source --csv --print-source sass > $OUT/$v-sass.csv 2> /dev/null; echo "source page $v rc $? $(wc -l < $OUT/$v-sass.csv) lines"
  $NCU --import $OUT/$v.ncu-rep --page details --csv > $OUT/$v-details.csv 2> /dev/null
  grep -E '"(Duration|Issue Slots Busy|Warp Cycles Per Issued Instruction|Achieved Active Warps Per SM|DRAM Throughput|Registers Per Thread)"' $OUT/$v-details.csv | awk -F'","' '{print $(NF-2)": "$NF}' | head -8
done
cd $OUT && tar czf profile.tgz *.csv *.log && rm -f *.csv *.log
