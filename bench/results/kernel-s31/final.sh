#!/usr/bin/env bash
# Session 31, H200: after the review, on the final build: the planned-launch GPU test (ragged
# horizon plans grown by tokens, as the engine grows them), and a decode-bench ragged point
# (fresh-session fills) with the ragged bench's verification.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s31
R=$OUT/r; mkdir -p $R
for b in vi gpu_attention; do xz -dc $S/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
VECINFER_REQUIRE_GPU=1 timeout 100 /tmp/gpu_attention --ignored launches_planned > $R/gpu_attention.log 2>&1; echo "gpu_attention rc $?"; grep -E "test result" $R/gpu_attention.log; grep ragged $R/gpu_attention.log | head -6 | cut -c1-170
timeout 80 /tmp/vi decode-bench --random-weights --caches fp16,d4b8/d4b8 --batches 8 --contexts 32768 --tune-fp16 off --largest-at= --ragged --json $R/db.json > $R/db.txt 2>&1; echo "decode-bench rc $?"; grep -A3 "^cache" $R/db.txt | cut -c1-150
timeout 40 /tmp/vi bench --codecs d4b8/d4b8 --ragged --shapes 1x4096,8x3 --json $R/edge.json > $R/edge.txt 2>&1; echo "bench edge rc $?"; grep -hE "^ +[0-9]+ +~?[0-9]+ |rror" $R/edge.txt | cut -c1-150
cd $OUT && tar czf r.tgz r && rm -r r
