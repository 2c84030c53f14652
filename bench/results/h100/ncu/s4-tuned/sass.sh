#!/usr/bin/env bash
# Per-instruction warp-stall samples (SASS) of the shipped H100 winner, d4b8 at 8 × 32k.
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
cd .carry/gpu
B="./vecinfer bench --shapes 8x32768 --codecs d4b8/d4b8 --scoring mma --replicas 16 --tile 256 --warps 4 --stages 1 --direct-codes true --runs 3"
ncu -k regex:vq_attention --launch-skip 3 --launch-count 1 --section SourceCounters --section WarpStateStats -o /tmp/prof $B > $OUT/ncu-run.log 2>&1; echo "ncu rc $?"
ncu -i /tmp/prof.ncu-rep --page source --print-source sass --csv > $OUT/sass.csv 2> $OUT/sass.err; echo "source rc $?"
head -c 600 $OUT/sass.csv; echo; wc -l $OUT/sass.csv
gzip -9 $OUT/sass.csv
