#!/usr/bin/env bash
# Session 38, H200: e4m3 key books, second call (the first, e4m3.sh, found `bench`'s timed caches
# built on unrounded random books, which the cache check refused: fixed by verify::random_books).
# SDPA and FlashInfer FP16/FP8 beside `bench` in one run (d8b12/d8b8 and d8b12/d8b12, f16 and
# e4m3 key books, default and tuned geometry; SmolLM2's paged d8b12/d8b8); the real-KV test on
# SmolLM2's K d8b12 / V d8b8 books (layers 0 and 29, 1024 tokens; f16 books, then rounded under e4m3
# kernels); the engine's decode step (random weights) on those books, f16 and rounded
# (`vecinfer round-books`), which takes the e4m3 kernel by itself.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s38c
R=$OUT/r; mkdir -p $R
for b in vi gpu_attention; do xz -dc $S/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
T0=$(date +%s)
timed() { local name=$1 limit=$2; shift 2; local start=$(date +%s); timeout $limit "$@" > $R/$name.log 2>&1; echo "$name rc $? in $(( $(date +%s) - start )) s"; }
VECINFER_REQUIRE_GPU=1 VECINFER_REAL_KV=$S/kv.safetensors VECINFER_REAL_CODEBOOKS=$S/cb-f16.safetensors timed real-kv 90 /tmp/gpu_attention --ignored --exact real_smollm2_kv_matches_the_cpu_reference --nocapture
grep -aE "real KV|test result|SKIPPED" $R/real-kv.log | head -40
python3 -m pip install -q --no-index --no-deps --target /tmp/site .carry/s34/whl/*.whl; export PYTHONPATH=/tmp/site
EQ=1x32768,8x32768,32x8192,64x8192,128x4096
timed baseline 200 python3 $S/fp16_decode_baseline.py --shapes $EQ --json $R/base.json
B=""; [ -s $R/base.json ] && B="--baseline $R/base.json"
timed k8-default 60 /tmp/vi bench --codecs d8b12/d8b8 --key-book f16,e4m3 --shapes $EQ $B
timed k8-tuned 60 /tmp/vi bench --codecs d8b12/d8b8 --tile 512 --warps 8 --stages 2 --replicas 8,16 --key-token-rows true --key-book f16,e4m3 --shapes $EQ $B
timed k12-tuned 60 /tmp/vi bench --codecs d8b12/d8b12 --tile 512 --warps 8 --stages 2 --key-token-rows true,false --key-book f16,e4m3 --shapes $EQ $B
timed smol-k8 90 /tmp/vi bench --codecs d8b12/d8b8 --key-book f16,e4m3 --heads 9 --kv-heads 3 --head-dim 64 --layouts paged64 --shapes 1x32768,8x32768,64x8192,256x2048 --runs 30
for books in f16 e4m3; do
  timed decode-$books 100 /tmp/vi decode-bench --random-weights --caches d8b12/d8b8 --codebooks $S/cb-$books.safetensors --batches 16,64 --contexts 8192 --largest-at "" --steps 10
done
echo "all at $(( $(date +%s) - T0 )) s"
tail -7 $R/baseline.log
for f in k8-default k8-tuned k12-tuned smol-k8; do echo "== $f"; grep -hE "^ +[0-9]+ +[0-9]+ |FAILED|rror" $R/$f.log | sed "s/  */ /g" | cut -c1-200; done
for books in f16 e4m3; do echo "== decode $books"; grep -avE "^\s*$" $R/decode-$books.log | tail -12 | cut -c1-220; done
cd $OUT && tar czf r.tgz r && rm -r r
