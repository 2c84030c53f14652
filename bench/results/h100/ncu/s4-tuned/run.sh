#!/usr/bin/env bash
# Session 4: Nsight Compute on the shipped H100 winner for 2-bit d4b8 at 8 × 32k (mma, direct
# code loads, 16 codebook copies, 256-token tiles over 4 warps, one stage): where the time goes
# now that shared-memory bank conflicts are gone. One device command from the repository root.
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
cd .carry/gpu
B="./vecinfer bench --shapes 8x32768 --codecs d4b8/d4b8 --scoring mma --replicas 16 --tile 256 --warps 4 --stages 1 --direct-codes true --runs 3"
$B 2>&1 | grep -E "^ +[0-9]+ +[0-9]+ " | tee $OUT/bench.txt
ncu -k regex:vq_attention --launch-skip 3 --launch-count 1 --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats --section SchedulerStats --section InstructionStats --section MemoryWorkloadAnalysis_Tables --section ComputeWorkloadAnalysis $B > $OUT/ncu-tuned-8x32768.txt 2>&1; echo "ncu rc $?"
ncu -k regex:vq_attention --launch-skip 3 --launch-count 1 --section WarpStateStats --section SourceCounters $B > $OUT/ncu-tuned-8x32768-source.txt 2>&1; echo "ncu source rc $?"
grep -E "Duration|DRAM Throughput|L1/TEX Cache Throughput|Compute \(SM\)|Issue Slots Busy|Achieved Occupancy|Theoretical Occupancy|Registers Per|Stall|Warp Cycles Per Issued" $OUT/ncu-tuned-8x32768.txt | head -40
