#!/usr/bin/env bash
# Session 38, H200: e4m3 key books landed (BookFormat::E4m3). GPU tests (gpu_attention with the
# new e4m3 test, gpu_paged); the e4m3 test under racecheck and memcheck; then SDPA and FlashInfer
# FP16/FP8 beside `bench` in one run: d8b12/d8b8 and d8b12/d8b12 with f16 and e4m3 key books at
# the default and at the tuned winners' geometry, and SmolLM2's paged d8b12/d8b8 default.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s38b
R=$OUT/r; mkdir -p $R/gpu
for b in vi gpu_attention gpu_paged; do xz -dc $S/$b.xz > $R/gpu/$b && chmod +x $R/gpu/$b; done
mv $R/gpu/vi /tmp/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $R/gpu.txt
T0=$(date +%s)
timed() { local name=$1 limit=$2; shift 2; local start=$(date +%s); timeout $limit "$@" > $R/$name.log 2>&1; echo "$name rc $? in $(( $(date +%s) - start )) s"; }
export VECINFER_REQUIRE_GPU=1
timed gpu_attention 200 $R/gpu/gpu_attention --ignored --test-threads 1
grep -aE "^test |test result" $R/gpu_attention.log
grep -a "ke4m3" $R/gpu_attention.log | head -20
timed gpu_paged 80 $R/gpu/gpu_paged --ignored --test-threads 1
grep -aE "test result" $R/gpu_paged.log
TEST_ARGS="--exact e4m3_key_books_match_the_cpu_reference" LOGS=$R VECINFER_CACHE_DIR=/tmp/vc-san timeout 200 bash scripts/gpu-sanitize.sh $R/gpu gpu_attention; echo "sanitize rc $? at $(( $(date +%s) - T0 )) s"
rm -r $R/gpu
python3 -m pip install -q --no-index --no-deps --target /tmp/site .carry/s34/whl/*.whl; export PYTHONPATH=/tmp/site
EQ=1x32768,8x32768,32x8192,64x8192,128x4096
timed baseline 200 python3 $S/fp16_decode_baseline.py --shapes $EQ --json $R/base.json
B=""; [ -s $R/base.json ] && B="--baseline $R/base.json"
timed d4b8-default 60 /tmp/vi bench --codecs d4b8/d4b8 --shapes $EQ $B
timed k8-default 60 /tmp/vi bench --codecs d8b12/d8b8 --key-book f16,e4m3 --shapes $EQ $B
timed k8-tuned 60 /tmp/vi bench --codecs d8b12/d8b8 --tile 512 --warps 8 --stages 2 --replicas 8 --key-token-rows true --key-book f16,e4m3 --shapes $EQ $B
timed k8-tuned16 60 /tmp/vi bench --codecs d8b12/d8b8 --tile 512 --warps 8 --stages 2 --replicas 16 --key-token-rows true --key-book e4m3 --shapes $EQ $B
timed k12-tuned 60 /tmp/vi bench --codecs d8b12/d8b12 --tile 512 --warps 8 --stages 2 --key-token-rows true,false --key-book f16,e4m3 --shapes $EQ $B
timed smol-k8 90 /tmp/vi bench --codecs d8b12/d8b8 --key-book f16,e4m3 --heads 9 --kv-heads 3 --head-dim 64 --layouts paged64 --shapes 1x32768,8x32768,64x8192,256x2048 --runs 30
echo "all at $(( $(date +%s) - T0 )) s"
tail -7 $R/baseline.log
for f in d4b8-default k8-default k8-tuned k8-tuned16 k12-tuned smol-k8; do echo "== $f"; grep -hE "^ +[0-9]+ +[0-9]+ |FAILED|rror" $R/$f.log | sed "s/  */ /g" | cut -c1-200; done
cd $OUT && tar czf r.tgz r && rm -r r
