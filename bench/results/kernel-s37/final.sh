#!/usr/bin/env bash
# Session 37, H200, the landed build (per-book copies, codegen f95b73437807e669): SDPA and
# FlashInfer FP16/FP8 beside `bench` in one run, Llama shape: the 2-bit default (unchanged
# machine code), K d4b12 / V d4b8 and d8b12/d8b8 at their defaults and at the re-tuned winners'
# configs of batch >= 8; then SmolLM2's paged default K d4b12 / V d4b8 with 1, 4, 8 and 16
# value copies (this build's default kept 1 at head dim 64; from this run it takes 8).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s37
R=$OUT/r; mkdir -p $R
xz -dc $S/vi.xz > /tmp/vi && chmod +x /tmp/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $R/gpu.txt
T0=$(date +%s)
timed() { local name=$1 limit=$2; shift 2; local start=$(date +%s); timeout $limit "$@" > $R/$name.log 2>&1; echo "$name rc $? in $(( $(date +%s) - start )) s"; }
python3 -m pip install -q --no-index --no-deps --target /tmp/site $S/whl/*.whl; export PYTHONPATH=/tmp/site
EQ=1x32768,8x32768,32x8192,64x8192,128x4096
timed baseline 200 python3 $S/fp16_decode_baseline.py --shapes $EQ --json $R/base.json
B=""; [ -s $R/base.json ] && B="--baseline $R/base.json"
timed d4b8-default 60 /tmp/vi bench --codecs d4b8/d4b8 --shapes $EQ $B
timed k4-default 60 /tmp/vi bench --codecs d4b12/d4b8 --shapes $EQ $B
timed k4-tuned 60 /tmp/vi bench --codecs d4b12/d4b8 --tile 256 --warps 8 --stages 2 --replicas 16 --key-token-rows true --min-blocks 2 --shapes $EQ $B
timed k8-default 60 /tmp/vi bench --codecs d8b12/d8b8 --shapes $EQ $B
timed k8-tuned 60 /tmp/vi bench --codecs d8b12/d8b8 --tile 512 --warps 8 --stages 2 --replicas 8 --key-token-rows true --shapes $EQ $B
timed smol-copies 90 /tmp/vi bench --codecs d4b12/d4b8 --replicas 1,4,8,16 --heads 9 --kv-heads 3 --head-dim 64 --layouts paged64 --shapes 1x32768,8x32768,64x8192,256x2048 --runs 30
echo "all at $(( $(date +%s) - T0 )) s"
tail -7 $R/baseline.log
for f in d4b8-default k4-default k4-tuned k8-default k8-tuned smol-copies; do echo "== $f"; grep -hE "^ +[0-9]+ +[0-9]+ |FAILED|rror" $R/$f.log | sed "s/  */ /g" | cut -c1-200; done
cd $OUT && tar czf r.tgz r && rm -r r
