#!/usr/bin/env bash
# Session 4: the guided strategy with the tokens-per-warp × stages diagonal, on the H100 (one
# device command, run from the repository root with the binaries carried in .carry/gpu),
# against the shipped exhaustive file for this GPU.
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
C=$PWD/.carry/gpu
nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
timeout 300 $C/vecinfer tune --devices all --strategy guided --file $OUT/guided.json --table $OUT/table-guided.md > $OUT/tune-guided.log 2>&1; echo "guided rc $?"
$C/vecinfer compare-tuning --exhaustive tuned-configs/nvidia-h100-80gb-hbm3.json --other $OUT/guided.json --table $OUT/guided-vs-exhaustive.md 2>&1 | tail -3
cd $OUT && tar czf logs.tgz *.log && rm -f *.log *.lock
