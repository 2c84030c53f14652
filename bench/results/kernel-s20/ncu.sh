#!/usr/bin/env bash
# Session 20: Nsight Compute on the d4b8 kernel at 64 × 8192 (Llama shape), the default config
# (t256 w4 r16, three blocks) and the H100 file's winner (t512 w4 r16, two blocks): sections,
# then per-instruction stall samples (SASS, csv) for bench/results/kernel-s20/sass_summary.py.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
R=/tmp/r; mkdir -p $R; xz -dc .carry/s20/vi.xz > $R/vi; chmod +x $R/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
BASE="$R/vi bench --shapes ${SHAPE:-64x8192} --codecs d4b8/d4b8 --runs 3"
for v in default t512; do
  case $v in default) B="$BASE";; t512) B="$BASE --tile 512 --warps 4 --replicas 16 --direct-codes true --min-blocks 0";; esac
  $B 2>&1 | grep -E "verified|FAIL|^  [0-9]+x" | tee $OUT/bench-$v.txt
  ncu -k regex:vq_attention --launch-skip 6 --launch-count 1 --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
    --section SchedulerStats --section InstructionStats --section MemoryWorkloadAnalysis_Tables --section ComputeWorkloadAnalysis --section SourceCounters \
    -o $R/prof-$v $B > $OUT/ncu-$v.txt 2>&1; echo "ncu $v rc $?"
  ncu -i $R/prof-$v.ncu-rep --page details > $OUT/details-$v.txt 2>&1
  ncu -i $R/prof-$v.ncu-rep --page source --print-source sass --csv > $OUT/sass-$v.csv 2> $OUT/sass-$v.err; echo "source $v rc $?"
  grep -E "Duration|DRAM Throughput|L1/TEX Cache Throughput|Compute \(SM\) Throughput|Issue Slots Busy|Achieved Occupancy|Registers Per|Eligible Warps|No Eligible|Warp Cycles Per Issued|Executed Instructions  " $OUT/details-$v.txt | head -20
done
gzip -9 $OUT/sass-*.csv
tar czf $OUT/${TAR:-ncu}.tgz -C $OUT $(cd $OUT && ls *.txt *.err *.csv.gz) && (cd $OUT && rm -f *.txt *.err *.csv.gz)
