#!/usr/bin/env bash
# Session 31, H200: bench after the growing cache moved to OneLayerCache::random_with_room
# (equal and ragged, contiguous and 64-token pages: verification, attention and append columns).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
R=$OUT/r; mkdir -p $R
xz -dc .carry/s31/vi.xz > /tmp/vi && chmod +x /tmp/vi
for m in "" "--ragged"; do
  timeout 60 /tmp/vi bench --codecs d4b8/d4b8 --layouts contiguous,paged64 --shapes 1x32768,8x32768 $m > $R/bench$m.txt 2>&1; echo "bench $m rc $?"
  grep -hE "^ +[0-9]+ +~?[0-9]+ |verified|rror" $R/bench$m.txt | cut -c1-200
done
cd $OUT && tar czf r.tgz r && rm -r r
