#!/usr/bin/env bash
# Session 29, H200: per-block stage timestamps (%globaltimer, thread 0, printed at the end) in a
# throwaway build with stamps.patch (not landed), for batch 1 on the Llama shape (default
# config, d4b8) and SmolLM2's 64-token pages. Carry .carry/s29k (vi-stamps.xz).
# Stamps: 0 block start, 1 codebooks copied, 2 lengths read (after the wait), 3 query
# transformed, 4 fp16 tokens done, 5 coded loop done, 6 partial result written.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc
R=/tmp/r; mkdir -p $R; xz -dc .carry/s29k/vi-stamps.xz > $R/vi-stamps; chmod +x $R/vi-stamps
for shape in 1x2048 1x32768 1x131072; do
  $R/vi-stamps bench --shapes $shape --codecs d4b8/d4b8 --runs 5 > $OUT/llama-$shape.txt 2>&1
  echo "llama $shape: $(grep -c STAMP $OUT/llama-$shape.txt) stamps, $(grep -hE "^  [0-9]+x[0-9]+: " $OUT/llama-$shape.txt)"
done
$R/vi-stamps bench --heads 9 --kv-heads 3 --head-dim 64 --codecs d4b8/d4b8 --layouts paged64 --shapes 1x32768 --runs 5 > $OUT/smol-1x32768.txt 2>&1
echo "smol: $(grep -c STAMP $OUT/smol-1x32768.txt) stamps"
gzip -9 $OUT/*.txt
