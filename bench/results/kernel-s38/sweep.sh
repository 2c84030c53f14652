#!/usr/bin/env bash
# Session 38, H200: is the tuned f16 geometry (t512 w8 r8) also the best for e4m3 key books? A
# small sweep of d8b12/d8b8 with e4m3 keys, Llama shape (tile, warps, value copies, launch
# bound), and SmolLM2's paged shape (tile, warps, copies).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s38e
R=$OUT/r; mkdir -p $R
xz -dc $S/vi.xz > /tmp/vi && chmod +x /tmp/vi
T0=$(date +%s)
timed() { local name=$1 limit=$2; shift 2; local start=$(date +%s); timeout $limit "$@" > $R/$name.log 2>&1; echo "$name rc $? in $(( $(date +%s) - start )) s"; }
EQ=8x32768,32x8192,64x8192,128x4096
timed llama 120 /tmp/vi bench --codecs d8b12/d8b8 --key-book e4m3 --key-token-rows true --tile 256,512 --warps 4,8 --stages 2 --replicas 4,8 --shapes $EQ --runs 20
timed llama-mb 60 /tmp/vi bench --codecs d8b12/d8b8 --key-book e4m3 --key-token-rows true --tile 512 --warps 8 --stages 2,3 --replicas 8 --min-blocks 0,2 --shapes $EQ --runs 20
timed smol 90 /tmp/vi bench --codecs d8b12/d8b8 --key-book e4m3 --heads 9 --kv-heads 3 --head-dim 64 --layouts paged64 --tile 256,512 --warps 4,8 --stages 2 --replicas 1,4,8 --shapes 8x32768,64x8192,256x2048 --runs 20
echo "all at $(( $(date +%s) - T0 )) s"
for f in llama llama-mb smol; do echo "== $f"; grep -hE "^ +[0-9]+ +[0-9]+ |FAILED|rror" $R/$f.log | sed "s/  */ /g" | cut -c1-40,100-200; done
cd $OUT && tar czf r.tgz r && rm -r r
