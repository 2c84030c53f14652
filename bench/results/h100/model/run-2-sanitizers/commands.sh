#!/bin/bash
# Call B of 3 (model part 2 of 3): memcheck and racecheck of the engine on the small random
# model (forward pass, decode steps eager and from graphs, attention kernels).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
C=$PWD/.carry/model/b; V=/root/vi
export VECINFER_CACHE_DIR=$V/cache PYTHONUNBUFFERED=1
L=$OUT/b.log
cp $C/part-ab $V/ && echo "part-ab copied" >> $L; ls -la $V >> $L
B=$V/vecinfer
t0=$(date +%s); stamp() { echo "== $(( $(date +%s) - t0 ))s: $*" >> $L; }
stamp memcheck
timeout 150 compute-sanitizer --tool memcheck --print-limit 20 $B gpu-check --no-eval --json $OUT/memcheck-check.json > $OUT/memcheck.txt 2>&1; stamp "memcheck rc $?"
timeout 100 compute-sanitizer --tool racecheck --print-limit 20 $B gpu-check --no-eval > $OUT/racecheck.txt 2>&1; stamp "racecheck rc $?"
